/* Times in the viewer's own zone: every <time data-moment> the server wrote in
 * its zone ("2026-12-04 15:19:29 UTC") is rewritten as "2026-12-04 16:19:29 CET",
 * on load and after each htmx swap. The zone is always written. */
(function () {
  "use strict";
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function zoneName(d) {
    var part = new Intl.DateTimeFormat(undefined, {timeZoneName: "short"}).formatToParts(d)
      .filter(function (p) { return p.type === "timeZoneName"; })[0];
    return part ? part.value : "";
  }
  function shown(d, short) {
    var time = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    var day = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
    return (short ? time : day + " " + time) + " " + zoneName(d);
  }
  function localise(root) {
    (root || document).querySelectorAll("time[data-moment]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) el.textContent = shown(d, el.getAttribute("data-moment") === "short");
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localise(document); });
  document.addEventListener("htmx:afterSettle", function (e) { localise(e.target); });
})();
