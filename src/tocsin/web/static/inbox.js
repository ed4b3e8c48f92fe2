// Keeps the edit lock of the inbox item open on this page: every data-refresh-seconds the
// lock form's fields (subject and the CSRF token) are posted to /inbox/refresh. When the
// lock is lost (someone took it over), the page reloads to show who has it now.
(function () {
  "use strict";
  var form = document.getElementById("lock");
  if (!form) { return; }
  var seconds = parseInt(form.getAttribute("data-refresh-seconds"), 10);
  if (!(seconds > 0)) { return; }
  var timer = window.setInterval(function () {
    var body = new URLSearchParams(new FormData(form));
    window.fetch("/inbox/refresh", {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      if (response.status === 409) {
        window.clearInterval(timer);
        window.location.reload();
      }
    }).catch(function () { /* offline for a moment: try again at the next tick */ });
  }, seconds * 1000);
})();
