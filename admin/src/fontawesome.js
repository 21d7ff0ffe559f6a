// Imported first by main.jsx: Font Awesome would otherwise inject a <style>
// element when the first icon renders, which the Content-Security-Policy
// of /admin (style-src 'self') blocks. Its CSS is bundled instead
// (styles.css imports @fortawesome/fontawesome-svg-core/styles.css).
import { config } from '@fortawesome/fontawesome-svg-core';

config.autoAddCss = false;
