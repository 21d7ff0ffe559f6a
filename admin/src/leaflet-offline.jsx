// react-leaflet for Shlink's web component, without map tiles. The
// component's visit map draws OpenStreetMap tiles fetched from
// tile.openstreetmap.org; shorty's /admin loads nothing from another origin
// (its Content-Security-Policy refuses it, and a server may have no network
// at all). build.mjs points the component's `react-leaflet` at this file:
// the map, its markers and their pop-ups are react-leaflet's own; the tile
// layer is a note saying why there is no background. The markers still sit
// at each city's latitude and longitude, and zooming and panning work.
export { MapContainer, Marker, Popup } from 'react-leaflet';

export function TileLayer() {
  return (
    <p
      role="note"
      className="absolute bottom-6 left-2 z-[1000] m-0 max-w-[22rem] rounded bg-white/90 p-2 text-sm text-gray-800"
    >
      No map background: shorty&apos;s admin loads nothing from other servers, so the
      markers (one per city) are shown without map tiles.
    </p>
  );
}
