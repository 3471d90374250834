// Browser notifications for new critical alerts while the alerts page is open.
// The alert list refreshes itself (htmx); after each swap, critical firing rows
// not seen before raise one notification each.
(function () {
  const button = document.getElementById("notify-toggle");
  const groups = document.getElementById("alert-groups");
  if (!button || !groups || !("Notification" in window)) {
    if (button) { button.disabled = true; button.textContent = "Notifications unsupported"; }
    return;
  }
  const seen = new Set();
  const critical = () => groups.querySelectorAll("tr.alert.firing[data-severity=critical]");
  critical().forEach((row) => seen.add(row.dataset.alertId));

  function show() {
    button.textContent = Notification.permission === "granted" ? "Notifications on" : "Notify me of critical alerts";
    button.disabled = Notification.permission !== "default";
    button.dataset.permission = Notification.permission;
  }
  button.addEventListener("click", () => Notification.requestPermission().then(show));
  show();

  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.target !== groups) return;
    critical().forEach((row) => {
      const id = row.dataset.alertId;
      if (seen.has(id)) return;
      seen.add(id);
      if (Notification.permission !== "granted") return;
      const note = new Notification(row.dataset.title, {body: row.dataset.where, tag: "alert-" + id});
      note.onclick = () => { window.focus(); window.location.href = row.dataset.url; };
    });
  });
})();
