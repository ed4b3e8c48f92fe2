/* What htmx (static/vendor/htmx, configured in base.html) does not do by itself here.
   No inline script or style, no eval (CSP); error texts are set with textContent only.

   1. An error answer the server sent as a fragment to show (it says so with an HX-Reswap
      header: the search's "this query cannot be used", the inbox's "someone else is
      handling this item") is swapped in like a success.
   2. Any other failed request (403 without a valid CSRF token, 404, 5xx, the server out of
      reach) is said in a role="alert" paragraph right after the form or link that sent it,
      with the server's own message; it goes away at the next request that succeeds. */
(function () {
  "use strict";
  var CLASS = "request-error";
  var UNREACHABLE = {
    en: "The server could not be reached: check the connection and try again.",
    fr: "Le serveur est injoignable : vérifiez la connexion et réessayez."
  };

  function serverMessage(xhr) {
    var type = (xhr.getResponseHeader("Content-Type") || "").toLowerCase();
    var text = "";
    try {
      if (type.indexOf("application/json") === 0) {
        var detail = JSON.parse(xhr.responseText).detail;
        text = typeof detail === "string" ? detail : "";
      } else if (type.indexOf("text/html") === 0) {
        // An inert document: nothing in it runs or loads; only its text is kept.
        var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
        var found = doc.querySelector("main p, [role=alert], p") || doc.body;
        text = found ? found.textContent : "";
      } else {
        text = xhr.responseText || "";
      }
    } catch (err) {
      text = "";
    }
    text = text.replace(/\s+/g, " ").trim().slice(0, 400);
    return text || (xhr.status + " " + xhr.statusText).trim();
  }

  function place(elt) {
    // After the element that sent the request, or at the top of <main> when it is gone.
    if (elt && elt.isConnected && elt !== document.body) {
      return { parent: elt.parentNode, before: elt.nextSibling };
    }
    var main = document.querySelector("main") || document.body;
    return { parent: main, before: main.firstChild };
  }

  function clear() {
    var found = document.querySelectorAll("." + CLASS);
    for (var i = 0; i < found.length; i += 1) {
      found[i].remove();
    }
  }

  function say(elt, text) {
    clear();
    var where = place(elt);
    var p = document.createElement("p");
    p.className = "notice " + CLASS;
    p.setAttribute("role", "alert");
    p.textContent = text;
    where.parent.insertBefore(p, where.before);
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status >= 400 && xhr.getResponseHeader("HX-Reswap")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:responseError", function (event) {
    say(event.detail.elt, serverMessage(event.detail.xhr));
  });

  document.addEventListener("htmx:sendError", function (event) {
    var lang = document.documentElement.getAttribute("lang") === "fr" ? "fr" : "en";
    say(event.detail.elt, UNREACHABLE[lang]);
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful) {
      clear();
    }
  });
})();
