/*
 * rules.c — Shlink 5.1 redirect rules: checking a rule list, compiling it,
 * matching a request against it, and writing it back (see shorty/rules.h).
 *
 * A compiled list is one block (the rules, then their conditions) plus one
 * string arena; conditions hold offsets into the arena and what matching
 * needs already worked out (the device bit, the browser, the IP address and
 * prefix, the date as Unix seconds, the language split into language and
 * country). rules_match() reads that and the request only: it allocates
 * nothing and works out each thing it needs from the request (the
 * User-Agent's device and browser, the client address) at most once.
 *
 * Meaning follows Shlink 5.1 (module/Core/src/RedirectRule/): a rule matches
 * when it has conditions and all of them hold; the first matching rule in
 * priority order wins. Where shorty departs from Shlink it says so below.
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shorty/hex.h"
#include "shorty/rules.h"
#include "shorty/timeutil.h"

#define NONE UINT32_MAX /* offset of an absent (null) string */
#define BUCKET_END 0xff /* ends a list of names in a first-letter bucket */

enum ctype {
	C_DEVICE,
	C_LANGUAGE,
	C_QUERY_PARAM,
	C_ANY_VALUE_QUERY_PARAM,
	C_VALUELESS_QUERY_PARAM,
	C_IP_ADDRESS,
	C_COUNTRY_CODE,
	C_CITY_NAME,
	C_BEFORE_DATE,
	C_AFTER_DATE,
	C_BROWSER,
	C_COUNT
};

/* Shlink's type names (RedirectConditionType), in enum order. */
static const char *const type_names[C_COUNT] = {
    "device",        "language",
    "query-param",   "any-value-query-param",
    "valueless-query-param", "ip-address",
    "geolocation-country-code", "geolocation-city-name",
    "before-date",   "after-date",
    "browser",
};

/* Shlink's DeviceType values, in the order of the RULES_DEV_* bits. */
static const char *const device_names[] = {"android", "ios",   "mobile",   "windows",
                                           "macos",   "linux", "chromeos", "desktop"};
#define DEVICE_COUNT (sizeof device_names / sizeof device_names[0])

/* Shlink's Browser values, in enum rules_browser order from 1. */
static const char *const browser_names[] = {"chrome", "firefox", "edge",
                                            "safari", "opera",   "android_browser"};
#define BROWSER_COUNT (sizeof browser_names / sizeof browser_names[0])

/* ISO 3166-1 alpha-2 codes, sorted, two letters each: the codes Shlink
 * accepts for geolocation-country-code (its ISO_COUNTRY_CODES). */
static const char iso_countries[] =
    "ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZCA"
    "CCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFKFMFOFRGA"
    "GBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGYHKHMHNHRHTHUIDIEILIMINIOIQIRISITJEJMJOJP"
    "KEKGKHKIKMKNKPKRKWKYKZLALBLCLILKLRLSLTLULVLYMAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMS"
    "MTMUMVMWMXMYMZNANCNENFNGNINLNONPNRNUNZOMPAPEPFPGPHPKPLPMPNPRPSPTPWPYQARERORS"
    "RURWSASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZTCTDTFTGTHTJTKTLTMTNTOTRTTTVTW"
    "TZUAUGUMUSUYUZVAVCVEVGVIVNVUWFWSYEYTZAZMZW";

struct rcond {
	uint8_t type;   /* enum ctype */
	uint8_t sub;    /* C_DEVICE: RULES_DEV_* bit; C_BROWSER: enum rules_browser */
	uint8_t family; /* C_IP_ADDRESS: 4 or 6 */
	uint8_t prefix; /* C_IP_ADDRESS: bits that must be equal */
	uint8_t wild;   /* C_IP_ADDRESS, IPv4 only: bit i set = octet i is '*' */
	uint32_t a, alen; /* first compare string: query key, language, country code, city */
	uint32_t b, blen; /* second: query value, language's country (NONE = any) */
	uint32_t okey, oval; /* matchKey and matchValue as given, NONE for null */
	int64_t when;        /* C_BEFORE_DATE, C_AFTER_DATE */
	uint8_t ip[16];
};

struct rrule {
	uint32_t url;   /* arena offset of the long URL */
	uint32_t first; /* index of its first condition */
	uint32_t n;     /* number of conditions */
};

struct rules_set {
	uint32_t nrules, nconds;
	struct rrule *rules;
	struct rcond *conds;
	char *str; /* the arena: NUL-terminated strings */
};

/* ------------------------------------------------------------------------
 * Small ASCII helpers (locale-independent, as PHP's strcasecmp/strtolower)
 */

static inline unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static inline bool ieq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

/* Does s (n bytes) start with the literal lit, ignoring ASCII case? */
static inline bool iprefix(const char *s, size_t n, const char *lit, size_t litlen)
{
	return n >= litlen && ieq(s, litlen, lit, litlen);
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\0';
}

static bool is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ------------------------------------------------------------------------
 * The User-Agent, read as Shlink reads it.
 *
 * Shlink asks donatj/phpuseragentparser for the platform and the browser
 * and maps a few of them to its devices and browsers (Model/DeviceType.php,
 * Model/Browser.php). No C library does that parse (and a different parser
 * would disagree with Shlink on real user agents), so this is a hand-written
 * rendering of the same steps, without regular expressions, keeping only
 * what can change the answer for Shlink's devices and browsers. Names are
 * matched without regard to case throughout (the parser's patterns are
 * case-insensitive, though it compares some results case-sensitively; a
 * user agent that spells "android" in lower case is Android here).
 */

enum plat {
	PL_NONE,
	PL_BB, /* "BB10;" */
	PL_ANDROID,
	PL_ADR,
	PL_SYMBIAN,
	PL_SAILFISH,
	PL_CROS,
	PL_FUCHSIA,
	PL_TIZEN,
	PL_IPHONE,
	PL_IPAD,
	PL_IPOD,
	PL_LINUX,
	PL_OPENBSD,
	PL_NETBSD,
	PL_FREEBSD,
	PL_MAC,
	PL_WINPHONE,
	PL_WINDOWS,
	PL_SILK,
	PL_LINUXGNU,
	PL_BLACKBERRY,
	PL_PLAYBOOK,
	PL_X11,
	PL_NINTENDO,
	PL_NINTENDO_3DS,
	PL_XBOXONE,
	PL_XBOX,
	PL_OTHER, /* set by the browser steps: Kindle, PlayStation */
};

struct kw {
	const char *s;
	uint8_t len, id;
};
#define KW(s, id) {s, sizeof(s) - 1, id}

/* Platform names in the parser's alternation order (the first that fits at
 * a position wins); BB<digits>; and Nintendo are matched in code. */
static const struct kw plat_kw[] = {
    KW("Android", PL_ANDROID),     KW("Adr", PL_ADR),           KW("Symbian", PL_SYMBIAN),
    KW("Sailfish", PL_SAILFISH),   KW("CrOS", PL_CROS),         KW("Fuchsia", PL_FUCHSIA),
    KW("Tizen", PL_TIZEN),         KW("iPhone", PL_IPHONE),     KW("iPad", PL_IPAD),
    KW("iPod", PL_IPOD),           KW("Linux", PL_LINUX),       KW("OpenBSD", PL_OPENBSD),
    KW("NetBSD", PL_NETBSD),       KW("FreeBSD", PL_FREEBSD),   KW("Macintosh", PL_MAC),
    KW("Windows Phone", PL_WINPHONE), KW("Windows", PL_WINDOWS), KW("Silk", PL_SILK),
    KW("linux-gnu", PL_LINUXGNU),  KW("BlackBerry", PL_BLACKBERRY), KW("PlayBook", PL_PLAYBOOK),
    KW("X11", PL_X11),
};

/* When the parentheses name several platforms, the first of these present
 * wins; otherwise the first named. */
static const uint8_t plat_priority[] = {PL_XBOXONE, PL_XBOX,    PL_WINPHONE, PL_TIZEN,
                                        PL_ANDROID, PL_FREEBSD, PL_NETBSD,   PL_OPENBSD,
                                        PL_CROS,    PL_FUCHSIA, PL_X11,      PL_SAILFISH};

#define PLAT_KW_COUNT (sizeof plat_kw / sizeof plat_kw[0])
#define PLAT_ALTS (1 + PLAT_KW_COUNT + 3)

/* For each first letter, the alternatives that start with it, in order;
 * see ua_tables_init(). */
static uint8_t plat_bucket[26][6];

/* Length of the platform name that alternative `alt` (0..PLAT_ALTS-1, in
 * the parser's order) finds at s (n bytes left), its id in *id; 0 if it
 * finds none. */
static size_t plat_alt_at(const char *s, size_t n, size_t alt, uint8_t *id)
{
	size_t k;

	if (alt == 0) { /* BB<digits>; */
		if (n < 4 || lower((unsigned char)s[0]) != 'b' || lower((unsigned char)s[1]) != 'b' ||
		    s[2] < '0' || s[2] > '9')
			return 0;
		for (k = 2; k < n && s[k] >= '0' && s[k] <= '9'; k++)
			;
		if (k == n || s[k] != ';')
			return 0;
		*id = PL_BB;
		return k + 1;
	}
	if (alt <= PLAT_KW_COUNT) {
		const struct kw *w = &plat_kw[alt - 1];
		if (!iprefix(s, n, w->s, w->len))
			return 0;
		*id = w->id;
		return w->len;
	}
	if (alt == PLAT_KW_COUNT + 1) { /* (New )?Nintendo (WiiU?|3?DS|Switch) */
		static const char *const models[] = {"WiiU", "Wii", "3DS", "DS", "Switch"};
		k = iprefix(s, n, "New ", 4) ? 4 : 0;
		if (!iprefix(s + k, n - k, "Nintendo ", 9))
			return 0;
		k += 9;
		for (size_t i = 0; i < 5; i++) {
			size_t ml = strlen(models[i]);
			if (iprefix(s + k, n - k, models[i], ml)) {
				*id = (k == 9 && i == 2) ? PL_NINTENDO_3DS : PL_NINTENDO;
				return k + ml;
			}
		}
		return 0;
	}
	if (alt == PLAT_KW_COUNT + 2 && iprefix(s, n, "Xbox One", 8)) {
		*id = PL_XBOXONE;
		return 8;
	}
	if (alt == PLAT_KW_COUNT + 3 && iprefix(s, n, "Xbox", 4)) {
		*id = PL_XBOX;
		return 4;
	}
	return 0;
}

/*
 * The platform from the first parenthesized group of the user agent: each
 * ';'-separated part names at most one platform (the first name in it that
 * is followed by a space, ';' or the end of the group); several names are
 * ranked by plat_priority. A name that does not fit is retried as the
 * shorter names after it ("Windows Phone" then "Windows").
 */
static uint8_t ua_platform(const char *ua, size_t len)
{
	const char *open = memchr(ua, '(', len), *close;
	uint8_t found[16];
	size_t nfound = 0;

	if (open && (close = memchr(open + 1, ')', len - (size_t)(open + 1 - ua)))) {
		const char *g = open + 1;
		size_t n = (size_t)(close - g), pos = 0;

		while (pos < n) {
			bool hit = false;
			for (size_t q = pos; q < n && !hit; q++) {
				unsigned char first = lower((unsigned char)g[q]);
				if (first < 'a' || first > 'z')
					continue;
				const uint8_t *bucket = plat_bucket[first - 'a'];
				for (size_t b = 0; bucket[b] != BUCKET_END && !hit; b++) {
					uint8_t id;
					size_t kl, k;

					if ((kl = plat_alt_at(g + q, n - q, bucket[b], &id)) == 0)
						continue;
					k = q + kl;
					if (k < n && g[k] == ' ')
						while (k < n && g[k] != ';')
							k++;
					if (k < n && g[k] != ';')
						continue;
					hit = true;
					pos = k + 1;
					bool dup = false;
					for (size_t i = 0; i < nfound; i++)
						dup |= found[i] == id;
					if (!dup && nfound < sizeof found)
						found[nfound++] = id;
				}
			}
			if (!hit)
				break;
		}
	}
	uint8_t p = nfound ? found[0] : PL_NONE;
	if (nfound > 1)
		for (size_t i = 0; i < sizeof plat_priority; i++) {
			bool present = false;
			for (size_t j = 0; j < nfound; j++)
				present |= found[j] == plat_priority[i];
			if (present) {
				p = plat_priority[i];
				break;
			}
		}
	if (p == PL_LINUXGNU || p == PL_X11)
		return PL_LINUX;
	if (p == PL_ADR)
		return PL_ANDROID;
	if (p == PL_NONE)
		for (size_t i = 0; i + 8 <= len; i++)
			if (ieq(ua + i, 7, "Android", 7) &&
			    (ua[i + 7] == ':' || ua[i + 7] == '/' || ua[i + 7] == ' '))
				return PL_ANDROID;
	return p;
}

enum br {
	BR_CAMINO,
	BR_KINDLE_FIRE,
	BR_KINDLE,
	BR_FIREFOX,
	BR_ICEWEASEL,
	BR_ICECAT,
	BR_SAFARI,
	BR_MSIE,
	BR_TRIDENT,
	BR_APPLEWEBKIT,
	BR_TIZEN,
	BR_HEADLESSCHROME,
	BR_CHROME,
	BR_YABROWSER,
	BR_VIVALDI,
	BR_IEMOBILE,
	BR_OPERA,
	BR_OPR,
	BR_SILK,
	BR_MIDORI,
	BR_EDGE,
	BR_EDGA,
	BR_EDG,
	BR_CRIOS,
	BR_UCBROWSER,
	BR_PUFFIN,
	BR_OCULUS,
	BR_SAMSUNG,
	BR_SAILFISH,
	BR_MIUI,
	BR_YAAPP,
	BR_WHALE,
	BR_APPLEBOT,
	BR_FACEBOT,
	BR_GOOGLEBOT,
	BR_YANDEXBOT,
	BR_BINGBOT,
	BR_LYNX,
	BR_VERSION,
	BR_STEAM,
	BR_MASTODON,
	BR_NINTENDO,
	BR_PS_NUM,  /* "PLAYSTATION 4" */
	BR_PS_VITA, /* "PLAYSTATION Vita" */
};

/* Browser names in the parser's alternation order ("Edge" alone is matched
 * with its case). */
static const struct kw br_kw[] = {
    KW("Camino", BR_CAMINO),
    KW("Kindle Fire", BR_KINDLE_FIRE),
    KW("Kindle", BR_KINDLE),
    KW("Firefox", BR_FIREFOX),
    KW("Iceweasel", BR_ICEWEASEL),
    KW("IceCat", BR_ICECAT),
    KW("Safari", BR_SAFARI),
    KW("MSIE", BR_MSIE),
    KW("Trident", BR_TRIDENT),
    KW("AppleWebKit", BR_APPLEWEBKIT),
    KW("TizenBrowser", BR_TIZEN),
    KW("HeadlessChrome", BR_HEADLESSCHROME),
    KW("Chrome", BR_CHROME),
    KW("YaBrowser", BR_YABROWSER),
    KW("Vivaldi", BR_VIVALDI),
    KW("IEMobile", BR_IEMOBILE),
    KW("Opera", BR_OPERA),
    KW("OPR", BR_OPR),
    KW("Silk", BR_SILK),
    KW("Midori", BR_MIDORI),
    KW("Edge", BR_EDGE),
    KW("EdgA", BR_EDGA),
    KW("Edg", BR_EDG),
    KW("CriOS", BR_CRIOS),
    KW("UCBrowser", BR_UCBROWSER),
    KW("Puffin", BR_PUFFIN),
    KW("OculusBrowser", BR_OCULUS),
    KW("SamsungBrowser", BR_SAMSUNG),
    KW("SailfishBrowser", BR_SAILFISH),
    KW("XiaoMi/MiuiBrowser", BR_MIUI),
    KW("YaApp_Android", BR_YAAPP),
    KW("Whale", BR_WHALE),
    KW("Applebot", BR_APPLEBOT),
    KW("Facebot", BR_FACEBOT),
    KW("Googlebot", BR_GOOGLEBOT),
    KW("YandexBot", BR_YANDEXBOT),
    KW("bingbot", BR_BINGBOT),
    KW("Lynx", BR_LYNX),
    KW("Version", BR_VERSION),
    KW("Valve Steam Tenfoot", BR_STEAM),
    KW("Mastodon", BR_MASTODON),
    KW("NintendoBrowser", BR_NINTENDO),
};

/* Which names the scan found, the first and last match (as written), and
 * the version after the first "Puffin". */
struct br_scan {
	uint64_t seen; /* bit per enum br */
	const char *first, *last;
	size_t first_len, last_len;
	const char *puffin_ver;
	size_t puffin_len;
};

static bool is_ver(char c)
{
	return is_alnum(c) || c == '.';
}

/* A browser name at s that is followed by the parser's version part
 * (")"? ";"? then one of ":/ " and a VERSION, or a bare "/"): its id and
 * the length of the name; *end is the length through the version,
 * ver and vlen the version. */
#define BR_KW_COUNT (sizeof br_kw / sizeof br_kw[0])

/* For each first letter, the names that start with it in alternation
 * order (indexes into br_kw; BR_KW_COUNT stands for "PLAYSTATION"), so that
 * a position of the user agent is tried against a handful of names, not
 * all of them; plat_bucket[] does the same for the platform alternatives.
 * Built once. */
static uint8_t br_bucket[26][8];
static unsigned char br_second[BR_KW_COUNT + 1]; /* second letter, lower case */
static uint32_t br_pairs[26]; /* bit c2 of [c1]: some name starts with c1 c2 */
static pthread_once_t ua_once = PTHREAD_ONCE_INIT;

static void ua_tables_init(void)
{
	uint8_t fill[26] = {0};

	memset(br_bucket, BUCKET_END, sizeof br_bucket);
	for (size_t i = 0; i <= BR_KW_COUNT; i++) {
		const char *name = i < BR_KW_COUNT ? br_kw[i].s : "PLAYSTATION";
		size_t l = (size_t)(lower((unsigned char)name[0]) - 'a');
		br_bucket[l][fill[l]++] = (uint8_t)i;
		br_second[i] = lower((unsigned char)name[1]);
		br_pairs[l] |= 1u << (br_second[i] - 'a');
	}
	memset(fill, 0, sizeof fill);
	memset(plat_bucket, BUCKET_END, sizeof plat_bucket);
	for (size_t alt = 0; alt < PLAT_ALTS; alt++) {
		/* BB<digits>;, the names, (New )?Nintendo, Xbox One, Xbox */
		char c = alt == 0                   ? 'b'
		         : alt <= PLAT_KW_COUNT     ? (char)lower((unsigned char)plat_kw[alt - 1].s[0])
		         : alt == PLAT_KW_COUNT + 1 ? 'n'
		                                    : 'x';
		size_t l = (size_t)(c - 'a');
		plat_bucket[l][fill[l]++] = (uint8_t)alt;
	}
}

static size_t br_name_at(const char *s, size_t n, uint8_t *id, size_t *end, const char **ver,
                         size_t *vlen)
{
	const uint8_t *bucket = br_bucket[lower((unsigned char)s[0]) - 'a'];
	unsigned char second = n > 1 ? lower((unsigned char)s[1]) : 0;

	for (size_t b = 0; bucket[b] != BUCKET_END; b++) {
		size_t nl, i = bucket[b];
		uint8_t bid;

		if (br_second[i] != second) /* most positions end here */
			continue;

		if (i < BR_KW_COUNT) {
			bid = br_kw[i].id;
			nl = br_kw[i].len;
			if (bid == BR_EDGE ? (n < nl || memcmp(s, "Edge", 4) != 0)
			                   : !iprefix(s, n, br_kw[i].s, nl))
				continue;
		} else { /* PLAYSTATION (\d|Vita)+ */
			if (!iprefix(s, n, "PLAYSTATION ", 12))
				continue;
			nl = 12;
			bid = BR_PS_NUM;
			for (;;) {
				if (nl < n && s[nl] >= '0' && s[nl] <= '9')
					nl++;
				else if (iprefix(s + nl, n - nl, "Vita", 4))
					nl += 4, bid = BR_PS_VITA;
				else
					break;
			}
			if (nl == 12)
				continue;
		}
		size_t k = nl;
		if (k < n && s[k] == ')')
			k++;
		if (k < n && s[k] == ';')
			k++;
		if (k + 1 < n && (s[k] == ':' || s[k] == '/' || s[k] == ' ') && is_ver(s[k + 1])) {
			size_t v = k + 1;
			for (k = v; k < n && is_ver(s[k]); k++)
				;
			*ver = s + v;
			*vlen = k - v;
		} else if (k < n && s[k] == '/') {
			k++;
			*ver = s + k;
			*vlen = 0;
		} else {
			continue;
		}
		*id = bid;
		*end = k;
		return nl;
	}
	return 0;
}

static void br_scan(const char *ua, size_t len, struct br_scan *r)
{
	memset(r, 0, sizeof *r);
	for (size_t q = 0; q < len;) {
		uint8_t id;
		size_t end, vlen, nl;
		const char *ver;

		/* every name starts with two letters, and few pairs start one:
		 * most positions end at this test */
		unsigned c1 = (unsigned)(ua[q] | 0x20) - 'a', c2;
		if (c1 >= 26 || q + 1 >= len || (c2 = (unsigned)(ua[q + 1] | 0x20) - 'a') >= 26 ||
		    !((br_pairs[c1] >> c2) & 1) ||
		    !(nl = br_name_at(ua + q, len - q, &id, &end, &ver, &vlen))) {
			q++;
			continue;
		}
		if (!r->first) {
			r->first = ua + q;
			r->first_len = nl;
		}
		r->last = ua + q;
		r->last_len = nl;
		if (id == BR_PUFFIN && !(r->seen & (1ull << BR_PUFFIN))) {
			r->puffin_ver = ver;
			r->puffin_len = vlen;
		}
		r->seen |= 1ull << id;
		q += end;
	}
}

/* The parser's robot rule, simplified: a "+http:" or "+https:" address
 * after a '(' or ';' ("...; Foobot/1.0; +http://foo.example/bot") makes the
 * robot's name the browser. */
static bool ua_is_robot(const char *ua, size_t len)
{
	const char *plus = ua, *end = ua + len;

	while ((plus = memchr(plus, '+', (size_t)(end - plus)))) {
		size_t left = (size_t)(end - plus - 1);
		if ((iprefix(plus + 1, left, "http:", 5) || iprefix(plus + 1, left, "https:", 6)) &&
		    (memchr(ua, '(', (size_t)(plus - ua)) || memchr(ua, ';', (size_t)(plus - ua))))
			return true;
		plus++;
	}
	return false;
}

/* The browser a raw match names, if it is one of Shlink's (compared with
 * its case, as the parser's result is). */
static enum rules_browser br_exact(const char *s, size_t n)
{
	static const struct {
		const char *s;
		enum rules_browser b;
	} names[] = {{"Chrome", RULES_BROWSER_CHROME},   {"Firefox", RULES_BROWSER_FIREFOX},
	             {"Edge", RULES_BROWSER_EDGE},       {"Safari", RULES_BROWSER_SAFARI},
	             {"Opera", RULES_BROWSER_OPERA}};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strlen(names[i].s) == n && memcmp(names[i].s, s, n) == 0)
			return names[i].b;
	return RULES_BROWSER_NONE;
}

#define SEEN(r, id) (((r)->seen >> (id)) & 1)

/* The parser's choice of browser, in its order; *plat may change (Kindle,
 * Puffin, PlayStation). */
static enum rules_browser ua_browser(const char *ua, size_t len, uint8_t *plat)
{
	struct br_scan r;

	br_scan(ua, len, &r);
	if (!r.first || ua_is_robot(ua, len))
		return RULES_BROWSER_NONE;

	static const struct {
		uint8_t id;
		enum rules_browser b;
	} renamed[] = {
	    {BR_OPR, RULES_BROWSER_OPERA},     {BR_FACEBOT, RULES_BROWSER_NONE},
	    {BR_UCBROWSER, RULES_BROWSER_NONE}, {BR_YABROWSER, RULES_BROWSER_NONE},
	    {BR_YAAPP, RULES_BROWSER_NONE},     {BR_ICEWEASEL, RULES_BROWSER_FIREFOX},
	    {BR_ICECAT, RULES_BROWSER_FIREFOX}, {BR_CRIOS, RULES_BROWSER_CHROME},
	    {BR_EDG, RULES_BROWSER_EDGE},       {BR_EDGA, RULES_BROWSER_EDGE},
	    {BR_MIUI, RULES_BROWSER_NONE},
	};
	for (size_t i = 0; i < sizeof renamed / sizeof renamed[0]; i++)
		if (SEEN(&r, renamed[i].id))
			return renamed[i].b;
	if (SEEN(&r, BR_PS_VITA)) {
		*plat = PL_OTHER;
		return RULES_BROWSER_NONE;
	}
	if (SEEN(&r, BR_KINDLE_FIRE) || SEEN(&r, BR_SILK)) {
		*plat = PL_OTHER; /* "Kindle Fire" */
		return RULES_BROWSER_NONE;
	}
	if (SEEN(&r, BR_NINTENDO) || *plat == PL_NINTENDO_3DS)
		return RULES_BROWSER_NONE;
	if (SEEN(&r, BR_KINDLE)) {
		*plat = PL_OTHER; /* "Kindle" */
		return RULES_BROWSER_NONE;
	}
	if (SEEN(&r, BR_OPERA))
		return RULES_BROWSER_OPERA;
	if (SEEN(&r, BR_PUFFIN)) {
		/* Puffin's version may end in two capitals naming the platform */
		const char *v = r.puffin_ver;
		size_t n = r.puffin_len;
		if (n > 3 && v[n - 2] >= 'A' && v[n - 2] <= 'Z' && v[n - 1] >= 'A' && v[n - 1] <= 'Z') {
			static const struct {
				char f[3];
				uint8_t p;
			} flags[] = {{"IP", PL_IPHONE}, {"IT", PL_IPAD},     {"AP", PL_ANDROID},
			             {"AT", PL_ANDROID}, {"WP", PL_WINPHONE}, {"WT", PL_WINDOWS}};
			for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
				if (memcmp(v + n - 2, flags[i].f, 2) == 0)
					*plat = flags[i].p;
		}
		return RULES_BROWSER_NONE;
	}
	static const uint8_t named[] = {BR_GOOGLEBOT, BR_APPLEBOT, BR_IEMOBILE,       BR_EDGE,
	                                BR_MIDORI,    BR_WHALE,    BR_VIVALDI,        BR_OCULUS,
	                                BR_SAMSUNG,   BR_STEAM,    BR_CHROME,         BR_HEADLESSCHROME,
	                                BR_SAILFISH};
	for (size_t i = 0; i < sizeof named; i++)
		if (SEEN(&r, named[i]))
			return named[i] == BR_EDGE     ? RULES_BROWSER_EDGE
			       : named[i] == BR_CHROME ? RULES_BROWSER_CHROME
			                               : RULES_BROWSER_NONE;
	if (SEEN(&r, BR_TRIDENT)) {
		for (size_t i = 0; i + 3 < len; i++)
			if (ieq(ua + i, 3, "rv:", 3) && is_ver(ua[i + 3]))
				return RULES_BROWSER_NONE; /* Internet Explorer 11 */
	}
	if (r.first_len == 11 && memcmp(r.first, "AppleWebKit", 11) == 0) {
		if (*plat == PL_ANDROID)
			return RULES_BROWSER_ANDROID;
		if (*plat == PL_BB || *plat == PL_BLACKBERRY || *plat == PL_PLAYBOOK)
			return RULES_BROWSER_NONE;
		if (SEEN(&r, BR_SAFARI))
			return RULES_BROWSER_SAFARI;
		if (SEEN(&r, BR_TIZEN))
			return RULES_BROWSER_NONE;
		return br_exact(r.last, r.last_len);
	}
	if (SEEN(&r, BR_PS_NUM)) {
		*plat = PL_OTHER;
		return RULES_BROWSER_NONE;
	}
	return br_exact(r.first, r.first_len);
}

void rules_user_agent(const char *ua, unsigned *devices, enum rules_browser *browser)
{
	*devices = 0;
	*browser = RULES_BROWSER_NONE;
	if (!ua || !*ua)
		return;
	size_t len = strlen(ua);
	pthread_once(&ua_once, ua_tables_init);
	uint8_t plat = ua_platform(ua, len);

	*browser = ua_browser(ua, len, &plat);
	switch (plat) {
	case PL_IPHONE:
	case PL_IPAD: /* iPadOS 13 and later say Macintosh: desktop, as in Shlink */
		*devices = RULES_DEV_IOS | RULES_DEV_MOBILE;
		break;
	case PL_ANDROID:
		*devices = RULES_DEV_ANDROID | RULES_DEV_MOBILE;
		break;
	case PL_LINUX:
		*devices = RULES_DEV_LINUX | RULES_DEV_DESKTOP;
		break;
	case PL_WINDOWS:
		*devices = RULES_DEV_WINDOWS | RULES_DEV_DESKTOP;
		break;
	case PL_MAC:
		*devices = RULES_DEV_MACOS | RULES_DEV_DESKTOP;
		break;
	case PL_CROS:
		*devices = RULES_DEV_CHROMEOS | RULES_DEV_DESKTOP;
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------------------
 * Query strings, read as PHP's $_GET is: pairs split on '&', key and value
 * URL-decoded ('+' is a space), the last pair of a key wins. (PHP also turns
 * '.' and ' ' in keys into '_' and "a[]" into arrays; shorty compares keys
 * as sent. And Shlink's valueless test is PHP's empty(), which "0" passes;
 * here only "?beta" and "?beta=" are valueless.)
 */

/* Is the URL-encoded e (n bytes) once decoded equal to lit? No copy made. */
static bool qs_eq(const char *e, size_t n, const char *lit, size_t litlen)
{
	size_t j = 0;

	for (size_t i = 0; i < n; j++) {
		int c = (unsigned char)e[i], h, l;
		if (c == '+') {
			c = ' ';
			i++;
		} else if (c == '%' && i + 2 < n && (h = sh_hexval((unsigned char)e[i + 1])) >= 0 &&
		           (l = sh_hexval((unsigned char)e[i + 2])) >= 0) {
			c = h * 16 + l;
			i += 3;
		} else {
			i++;
		}
		if (j >= litlen || (unsigned char)lit[j] != c)
			return false;
	}
	return j == litlen;
}

/* The value of the last pair whose key is `key`; false when none. */
static bool qs_find(const char *q, size_t n, const char *key, size_t klen, const char **val,
                    size_t *vlen)
{
	bool found = false;

	for (size_t i = 0; i <= n && q;) {
		const char *amp = memchr(q + i, '&', n - i);
		size_t end = amp ? (size_t)(amp - q) : n;
		const char *eq = memchr(q + i, '=', end - i);
		size_t kend = eq ? (size_t)(eq - q) : end;

		if (kend > i && qs_eq(q + i, kend - i, key, klen)) {
			found = true;
			*val = eq ? eq + 1 : q + end;
			*vlen = eq ? end - kend - 1 : 0;
		}
		if (!amp)
			break;
		i = end + 1;
	}
	return found;
}

/* ------------------------------------------------------------------------
 * Accept-Language, read as Shlink reads it (acceptLanguageToLocales with a
 * minimum quality of 0.9, normalizeLocale, splitLocale): every listed
 * locale of quality >= 0.9 other than "*" is lower-cased with '_' as '-';
 * its language must equal the condition's, and its country too when the
 * condition names one.
 */

static void trim(const char **s, const char **e)
{
	while (*s < *e && is_space(**s))
		(*s)++;
	while (*e > *s && is_space((*e)[-1]))
		(*e)--;
}

/* The q= of a quality part ("q=0.8"), as PHP reads it: 1 when absent or
 * written without '=', else the leading number of the value (0 if none). */
static double al_quality(const char *s, const char *e)
{
	char buf[32];
	size_t n;

	trim(&s, &e);
	if (e - s < 2 || s[0] != 'q' || s[1] != '=')
		return 1.0;
	s += 2;
	/* the usual "0.8" without strtod (which is most of the cost here): up
	 * to 9 decimals as an integer over a power of ten, rounded as strtod */
	if (s < e && s[0] >= '0' && s[0] <= '9' && (e - s == 1 || (s[1] == '.' && e - s <= 11))) {
		double pow10 = 1;
		long frac = 0;
		const char *p = s + 2;
		for (; p < e && *p >= '0' && *p <= '9'; p++, pow10 *= 10)
			frac = frac * 10 + (*p - '0');
		if (p >= e)
			return (s[0] - '0') + (double)frac / pow10;
	}
	n = (size_t)(e - s) < sizeof buf - 1 ? (size_t)(e - s) : sizeof buf - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return strtod(buf, NULL);
}

/* Is the locale s..e, normalized, of language lang (and country cc)? */
static bool al_locale_is(const char *s, const char *e, const char *lang, size_t llen,
                         const char *cc, size_t cclen)
{
	size_t i = 0;

	trim(&s, &e);
	/* language: up to the first '-' or '_' */
	for (; s < e && *s != '-' && *s != '_'; s++, i++)
		if (i >= llen || lower((unsigned char)*s) != (unsigned char)lang[i])
			return false;
	if (i != llen)
		return false;
	if (!cc)
		return true;
	if (s == e)
		return false;
	s++;
	for (i = 0; s < e && *s != '-' && *s != '_'; s++, i++)
		if (i >= cclen || lower((unsigned char)*s) != (unsigned char)cc[i])
			return false;
	return i == cclen;
}

static bool al_match(const char *al, const char *lang, size_t llen, const char *cc, size_t cclen)
{
	const char *s = al, *e = al + strlen(al);

	trim(&s, &e);
	if (s == e || (e - s == 1 && *s == '*'))
		return false;
	while (s < e) {
		const char *comma = memchr(s, ',', (size_t)(e - s));
		const char *ie = comma ? comma : e;
		const char *semi = memchr(s, ';', (size_t)(ie - s));
		const char *le = semi ? semi : ie;
		double q = 1.0;

		if (semi) {
			const char *semi2 = memchr(semi + 1, ';', (size_t)(ie - semi - 1));
			q = al_quality(semi + 1, semi2 ? semi2 : ie);
		}
		const char *ls = s, *lend = le;
		trim(&ls, &lend);
		bool star = lend - ls == 1 && *ls == '*';
		if (!star && q >= 0.9 && al_locale_is(ls, lend, lang, llen, cc, cclen))
			return true;
		if (!comma)
			break;
		s = comma + 1;
	}
	return false;
}

/* ------------------------------------------------------------------------
 * Addresses: a condition is one address, a CIDR block, or an IPv4 pattern
 * with '*' for whole octets (Shlink's IpAddressUtils). Shlink matches IPv4
 * clients only; shorty also matches IPv6 clients against IPv6 addresses and
 * blocks, and an IPv4-mapped IPv6 client as its IPv4 address.
 */

/* Parses a client address: 4 or 6 in *fam, bytes in ip; false if not one. */
static bool ip_parse_client(const char *s, uint8_t ip[16], int *fam)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (inet_pton(AF_INET, s, ip) == 1) {
		*fam = 4;
		return true;
	}
	if (inet_pton(AF_INET6, s, ip) == 1) {
		if (memcmp(ip, mapped, 12) == 0) {
			memmove(ip, ip + 12, 4);
			*fam = 4;
		} else {
			*fam = 6;
		}
		return true;
	}
	return false;
}

static bool ip_match(const struct rcond *c, const uint8_t ip[16], int fam)
{
	if (fam != c->family)
		return false;
	if (c->wild) {
		for (int i = 0; i < 4; i++)
			if (!(c->wild & (1u << i)) && ip[i] != c->ip[i])
				return false;
		return true;
	}
	size_t full = c->prefix / 8u;
	unsigned rest = c->prefix % 8u;
	if (memcmp(ip, c->ip, full) != 0)
		return false;
	if (rest) {
		uint8_t mask = (uint8_t)(0xffu << (8 - rest));
		return (ip[full] & mask) == (c->ip[full] & mask);
	}
	return true;
}

/* Decimal number of 1..maxdigits digits, whole string, <= max. */
static bool parse_small(const char *s, size_t n, unsigned maxdigits, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (n == 0 || n > maxdigits)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* Fills c's address fields from a condition value; false if it is none of
 * address, CIDR block, wildcard pattern. */
static bool ip_compile(const char *v, struct rcond *c)
{
	char buf[64];
	size_t n = strlen(v);

	if (n >= sizeof buf)
		return false;
	if (strchr(v, '*')) { /* a.b.c.d, each an octet or '*' */
		const char *p = v;
		for (int i = 0; i < 4; i++) {
			const char *dot = strchr(p, '.');
			size_t len = dot ? (size_t)(dot - p) : strlen(p);
			unsigned o;
			if ((i < 3) != (dot != NULL))
				return false;
			if (len == 1 && *p == '*')
				c->wild |= (uint8_t)(1u << i);
			else if (parse_small(p, len, 3, 255, &o))
				c->ip[i] = (uint8_t)o;
			else
				return false;
			p += len + 1;
		}
		c->family = 4;
		c->prefix = 32;
		return true;
	}
	const char *slash = strchr(v, '/');
	size_t alen = slash ? (size_t)(slash - v) : n;
	memcpy(buf, v, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, c->ip) == 1)
		c->family = 4;
	else if (inet_pton(AF_INET6, buf, c->ip) == 1)
		c->family = 6;
	else
		return false;
	unsigned bits = c->family == 4 ? 32 : 128;
	if (slash && !parse_small(slash + 1, n - alen - 1, 3, bits, &bits))
		return false;
	c->prefix = (uint8_t)bits;
	return true;
}

/* ------------------------------------------------------------------------
 * Checking and compiling
 */

struct build {
	rules_set *rs;
	char *str;
	size_t len, cap;
	sh_err *err;
	char path[96]; /* "redirectRules[3].conditions[1]" of the element at hand */
};

/* Appends n bytes and a NUL to the arena; the offset, or NONE when out of
 * memory. */
static uint32_t put(struct build *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->str, cap);
		if (!p)
			return NONE;
		b->str = p;
		b->cap = cap;
	}
	uint32_t off = (uint32_t)b->len;
	memcpy(b->str + b->len, s, n);
	b->str[b->len + n] = '\0';
	b->len += n + 1;
	return off;
}

static int bad(struct build *b, const char *member, const char *why, const char *value)
{
	return sh_err_set(b->err, SH_EINVAL, "redirectRules", "%s%s%s: %s%s%s%s", b->path,
	                  member ? "." : "", member ? member : "", why, value ? " (got \"" : "",
	                  value ? value : "", value ? "\")" : "");
}

/* A member that must be a string or null (or absent): the string in *s,
 * NULL for null/absent. */
static int get_str(struct build *b, const json_t *obj, const char *member, const char **s)
{
	const json_t *j = json_object_get(obj, member);

	*s = NULL;
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_string(j))
		return bad(b, member, "must be a string or null", NULL);
	if (json_string_length(j) > RULES_MAX_VALUE)
		return sh_err_set(b->err, SH_ETOOBIG, "redirectRules", "%s.%s: longer than %d bytes",
		                  b->path, member, RULES_MAX_VALUE);
	if (strlen(json_string_value(j)) != json_string_length(j))
		return bad(b, member, "must not contain a NUL character", NULL);
	*s = json_string_value(j);
	return 0;
}

/* "a, b, c" of a list of names, for messages. */
static const char *names_text(const char *const *names, size_t n, char *buf, size_t bufsz)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(buf + o, bufsz - o, "%s%s", i ? ", " : "", names[i]);
		if (w < 0 || (size_t)w >= bufsz - o)
			break;
		o += (size_t)w;
	}
	return buf;
}

/* The index of val in names (*i), or an error naming member and listing
 * the names. */
static int find_name(struct build *b, const char *member, const char *what, const char *val,
                     const char *const *names, size_t n, size_t *i)
{
	char list[256];

	for (*i = 0; *i < n; (*i)++)
		if (strcmp(val, names[*i]) == 0)
			return 0;
	return sh_err_set(b->err, SH_EINVAL, "redirectRules", "%s.%s: unknown %s \"%.64s\"; one of %s",
	                  b->path, member, what, val, names_text(names, n, list, sizeof list));
}

static bool is_country(const char *v)
{
	if (strlen(v) != 2)
		return false;
	for (const char *p = iso_countries; *p; p += 2)
		if (p[0] == v[0] && p[1] == v[1])
			return true;
	return false;
}

/* Shlink accepts any language value; shorty asks for the shape of a
 * language tag (letters, then '-'/'_' separated parts of letters and
 * digits), so that a typo is an error and not a rule that never matches. */
static bool is_language(const char *v)
{
	size_t part = 0, i = 0;
	bool first = true;

	for (;; i++) {
		char c = v[i];
		if (c == '\0' || c == '-' || c == '_') {
			if (part == 0 || part > 8)
				return false;
			if (c == '\0')
				return true;
			part = 0;
			first = false;
			continue;
		}
		bool letter = (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
		if (!letter && (first || c < '0' || c > '9'))
			return false;
		part++;
	}
}

/* Compiles the language value: a = language, b = country or NONE. */
static int lang_compile(struct build *b, const char *v, struct rcond *c)
{
	char buf[RULES_MAX_VALUE + 1];
	size_t n = strlen(v), lang;

	for (size_t i = 0; i < n; i++)
		buf[i] = v[i] == '_' ? '-' : (char)lower((unsigned char)v[i]);
	buf[n] = '\0';
	lang = strcspn(buf, "-");
	c->a = put(b, buf, lang);
	c->alen = (uint32_t)lang;
	c->b = NONE;
	if (lang < n) {
		size_t cl = strcspn(buf + lang + 1, "-");
		c->b = put(b, buf + lang + 1, cl);
		c->blen = (uint32_t)cl;
		if (c->b == NONE)
			return SH_ENOMEM;
	}
	return c->a == NONE ? SH_ENOMEM : 0;
}

static int cond_compile(struct build *b, const json_t *j, struct rcond *c)
{
	const char *key, *val;
	char alltypes[256];
	size_t i;
	int rc;

	memset(c, 0, sizeof *c);
	if (!json_is_object(j))
		return bad(b, NULL, "must be an object with type, matchKey and matchValue", NULL);
	const json_t *t = json_object_get(j, "type");
	if (!json_is_string(t))
		return sh_err_set(b->err, SH_EINVAL, "redirectRules", "%s.type: is required, one of %s",
		                  b->path, names_text(type_names, C_COUNT, alltypes, sizeof alltypes));
	if ((rc = find_name(b, "type", "condition type", json_string_value(t), type_names, C_COUNT,
	                    &i)))
		return rc;
	c->type = (uint8_t)i;
	if ((rc = get_str(b, j, "matchKey", &key)) || (rc = get_str(b, j, "matchValue", &val)))
		return rc;
	c->okey = key ? put(b, key, strlen(key)) : NONE;
	c->oval = val ? put(b, val, strlen(val)) : NONE;
	if ((key && c->okey == NONE) || (val && c->oval == NONE))
		return SH_ENOMEM;

	bool keyed = c->type == C_QUERY_PARAM || c->type == C_ANY_VALUE_QUERY_PARAM ||
	             c->type == C_VALUELESS_QUERY_PARAM;
	if (keyed && (!key || !*key))
		return bad(b, "matchKey", "is required for this type: the query parameter's name",
		           NULL);
	if (!keyed || c->type == C_QUERY_PARAM) {
		if (!val || !*val)
			return bad(b, "matchValue", "is required for this type", NULL);
	}
	switch (c->type) {
	case C_DEVICE:
		if ((rc = find_name(b, "matchValue", "device", val, device_names, DEVICE_COUNT, &i)))
			return rc;
		c->sub = (uint8_t)(1u << i);
		break;
	case C_BROWSER:
		if ((rc = find_name(b, "matchValue", "browser", val, browser_names, BROWSER_COUNT,
		                    &i)))
			return rc;
		c->sub = (uint8_t)(i + 1);
		break;
	case C_LANGUAGE:
		if (!is_language(val))
			return bad(b, "matchValue", "is not a language tag such as en, en-US or es_AR",
			           val);
		return lang_compile(b, val, c);
	case C_QUERY_PARAM:
		c->b = c->oval;
		c->blen = (uint32_t)strlen(val);
		/* fall through */
	case C_ANY_VALUE_QUERY_PARAM:
	case C_VALUELESS_QUERY_PARAM:
		c->a = c->okey;
		c->alen = (uint32_t)strlen(key);
		break;
	case C_IP_ADDRESS:
		if (!ip_compile(val, c))
			return bad(b, "matchValue",
			           "is not an IP address, a CIDR block (192.168.1.0/24) or an IPv4 "
			           "pattern with * for whole octets (192.168.*.*)",
			           val);
		break;
	case C_COUNTRY_CODE:
		if (!is_country(val))
			return bad(b, "matchValue",
			           "is not an ISO 3166-1 alpha-2 country code in capitals (US, FR, ...)",
			           val);
		c->a = c->oval;
		c->alen = 2;
		break;
	case C_CITY_NAME:
		c->a = c->oval;
		c->alen = (uint32_t)strlen(val);
		break;
	case C_BEFORE_DATE:
	case C_AFTER_DATE:
		if (sh_time_parse(val, &c->when) != 0)
			return bad(b, "matchValue",
			           "is not a date-time such as 2026-12-31T23:59:59+00:00 or a date "
			           "such as 2026-12-31",
			           val);
		break;
	}
	return 0;
}

static int rule_compile(struct build *b, size_t i, const json_t *j, const url_policy *policy,
                        uint32_t *next_cond)
{
	struct rrule *r = &b->rs->rules[i];
	const json_t *conds = json_object_get(j, "conditions");
	sh_err uerr;
	char *url = NULL;
	int rc;

	snprintf(b->path, sizeof b->path, "redirectRules[%zu]", i);
	const json_t *u = json_object_get(j, "longUrl");
	if (!json_is_string(u))
		return bad(b, "longUrl", "is required: the URL to redirect to", NULL);
	rc = url_normalize(policy, json_string_value(u), json_string_length(u), &url, &uerr);
	if (rc)
		return sh_err_set(b->err, rc, "redirectRules", "%s.longUrl: %s", b->path, uerr.msg);
	r->url = put(b, url, strlen(url));
	free(url);
	if (r->url == NONE)
		return SH_ENOMEM;
	r->first = *next_cond;
	r->n = (uint32_t)json_array_size(conds);
	for (size_t k = 0; k < r->n; k++) {
		snprintf(b->path, sizeof b->path, "redirectRules[%zu].conditions[%zu]", i, k);
		if ((rc = cond_compile(b, json_array_get(conds, k), &b->rs->conds[r->first + k])))
			return rc;
	}
	*next_cond += r->n;
	return 0;
}

int rules_from_list(const json_t *list, const url_policy *policy, rules_set **out, sh_err *err)
{
	struct build b = {.err = err};
	size_t nrules, nconds = 0;
	uint32_t next = 0;
	int rc = 0;

	*out = NULL;
	if (!json_is_array(list))
		return sh_err_set(err, SH_EINVAL, "redirectRules",
		                  "redirectRules: must be an array of rules");
	nrules = json_array_size(list);
	if (nrules > RULES_MAX_RULES)
		return sh_err_set(err, SH_ETOOBIG, "redirectRules",
		                  "redirectRules: more than %d rules", RULES_MAX_RULES);
	/* shapes and counts first, so that one allocation holds everything */
	for (size_t i = 0; i < nrules; i++) {
		const json_t *r = json_array_get(list, i), *c = json_object_get(r, "conditions");
		if (!json_is_object(r))
			return sh_err_set(err, SH_EINVAL, "redirectRules",
			                  "redirectRules[%zu]: must be an object with longUrl and "
			                  "conditions",
			                  i);
		if (!json_is_array(c))
			return sh_err_set(err, SH_EINVAL, "redirectRules",
			                  "redirectRules[%zu].conditions: is required: an array of "
			                  "conditions",
			                  i);
		if (json_array_size(c) > RULES_MAX_CONDITIONS)
			return sh_err_set(err, SH_ETOOBIG, "redirectRules",
			                  "redirectRules[%zu].conditions: more than %d conditions", i,
			                  RULES_MAX_CONDITIONS);
		nconds += json_array_size(c);
	}
	b.rs = calloc(1, sizeof *b.rs + nrules * sizeof(struct rrule) +
	                     nconds * sizeof(struct rcond));
	if (!b.rs)
		return sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
	b.rs->nrules = (uint32_t)nrules;
	b.rs->nconds = (uint32_t)nconds;
	/* conditions first: they need 8-byte alignment, the rules 4 */
	b.rs->conds = (struct rcond *)(b.rs + 1);
	b.rs->rules = (struct rrule *)(b.rs->conds + nconds);
	for (size_t i = 0; i < nrules && !rc; i++)
		rc = rule_compile(&b, i, json_array_get(list, i), policy, &next);
	if (!rc && put(&b, "", 0) == NONE) /* an arena even for no rules */
		rc = SH_ENOMEM;
	if (rc) {
		if (rc == SH_ENOMEM)
			sh_err_set(err, SH_ENOMEM, NULL, "out of memory");
		free(b.str);
		free(b.rs);
		return rc;
	}
	b.rs->str = b.str;
	*out = b.rs;
	return 0;
}

int rules_from_body(const json_t *body, const url_policy *policy, rules_set **out, sh_err *err)
{
	*out = NULL;
	if (!json_is_object(body))
		return sh_err_set(err, SH_EINVAL, "redirectRules",
		                  "the body must be an object: {\"redirectRules\": [...]}");
	const json_t *list = json_object_get(body, "redirectRules");
	if (!list)
		return sh_err_set(err, SH_EINVAL, "redirectRules",
		                  "redirectRules: is required: an array of rules (empty to remove "
		                  "them all)");
	return rules_from_list(list, policy, out, err);
}

/* ------------------------------------------------------------------------
 * Writing back
 */

static json_t *str_or_null(const rules_set *rs, uint32_t off)
{
	return off == NONE ? json_null() : json_string(rs->str + off);
}

json_t *rules_to_json(const rules_set *rs)
{
	json_t *arr = json_array();

	for (uint32_t i = 0; arr && rs && i < rs->nrules; i++) {
		const struct rrule *r = &rs->rules[i];
		json_t *conds = json_array();
		json_t *rule = json_object();

		if (!conds || !rule ||
		    json_object_set_new(rule, "longUrl", json_string(rs->str + r->url)) ||
		    json_object_set_new(rule, "priority", json_integer(i + 1)) ||
		    json_object_set(rule, "conditions", conds) || json_array_append(arr, rule)) {
			json_decref(conds);
			json_decref(rule);
			json_decref(arr);
			return NULL;
		}
		json_decref(rule);
		for (uint32_t k = 0; k < r->n; k++) {
			const struct rcond *c = &rs->conds[r->first + k];
			json_t *o = json_pack("{s:s, s:o, s:o}", "type", type_names[c->type],
			                      "matchKey", str_or_null(rs, c->okey), "matchValue",
			                      str_or_null(rs, c->oval));
			if (!o || json_array_append_new(conds, o)) {
				json_decref(conds);
				json_decref(arr);
				return NULL;
			}
		}
		json_decref(conds);
	}
	return arr;
}

json_t *rules_answer(const rules_set *rs, const char *default_long_url)
{
	json_t *list = rules_to_json(rs);

	if (!list)
		return NULL;
	return json_pack("{s:s, s:o}", "defaultLongUrl", default_long_url, "redirectRules", list);
}

size_t rules_count(const rules_set *rs)
{
	return rs ? rs->nrules : 0;
}

bool rules_uses_location(const rules_set *rs)
{
	for (uint32_t i = 0; rs && i < rs->nconds; i++)
		if (rs->conds[i].type == C_COUNTRY_CODE || rs->conds[i].type == C_CITY_NAME)
			return true;
	return false;
}

void rules_free(rules_set *rs)
{
	if (!rs)
		return;
	free(rs->str);
	free(rs);
}

/* ------------------------------------------------------------------------
 * Matching
 */

/* What is worked out from the request at most once per rules_match(). */
struct seen {
	const rules_request *rq;
	bool ua_done, ip_done, ip_ok;
	unsigned devices;
	enum rules_browser browser;
	int ip_fam;
	uint8_t ip[16];
};

static bool cond_holds(const rules_set *rs, const struct rcond *c, struct seen *s)
{
	const rules_request *rq = s->rq;
	const char *v;
	size_t vlen;

	switch ((enum ctype)c->type) {
	case C_DEVICE:
	case C_BROWSER:
		if (!s->ua_done) {
			rules_user_agent(rq->user_agent, &s->devices, &s->browser);
			s->ua_done = true;
		}
		return c->type == C_DEVICE ? (s->devices & c->sub) != 0 : s->browser == c->sub;
	case C_LANGUAGE:
		return rq->accept_language &&
		       al_match(rq->accept_language, rs->str + c->a, c->alen,
		                c->b == NONE ? NULL : rs->str + c->b, c->blen);
	case C_QUERY_PARAM:
		return qs_find(rq->query, rq->query_len, rs->str + c->a, c->alen, &v, &vlen) &&
		       qs_eq(v, vlen, rs->str + c->b, c->blen);
	case C_ANY_VALUE_QUERY_PARAM:
		return qs_find(rq->query, rq->query_len, rs->str + c->a, c->alen, &v, &vlen);
	case C_VALUELESS_QUERY_PARAM:
		return qs_find(rq->query, rq->query_len, rs->str + c->a, c->alen, &v, &vlen) &&
		       vlen == 0;
	case C_IP_ADDRESS:
		if (!s->ip_done) {
			s->ip_ok = rq->client_ip && ip_parse_client(rq->client_ip, s->ip, &s->ip_fam);
			s->ip_done = true;
		}
		return s->ip_ok && ip_match(c, s->ip, s->ip_fam);
	case C_COUNTRY_CODE:
	case C_CITY_NAME:
		v = c->type == C_COUNTRY_CODE ? rq->country_code : rq->city;
		return v && ieq(v, strlen(v), rs->str + c->a, c->alen);
	case C_BEFORE_DATE:
		return rq->now < c->when;
	case C_AFTER_DATE:
		return rq->now > c->when;
	case C_COUNT:
		break;
	}
	return false;
}

const char *rules_match(const rules_set *rs, const rules_request *req)
{
	struct seen s = {.rq = req};

	if (!rs)
		return NULL;
	for (uint32_t i = 0; i < rs->nrules; i++) {
		const struct rrule *r = &rs->rules[i];
		bool all = r->n > 0; /* a rule without conditions never matches, as in Shlink */

		for (uint32_t k = 0; all && k < r->n; k++)
			all = cond_holds(rs, &rs->conds[r->first + k], &s);
		if (all)
			return rs->str + r->url;
	}
	return NULL;
}
