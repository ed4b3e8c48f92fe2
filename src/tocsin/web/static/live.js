/* The Live page: adds each mention sent by /live/stream (Server-Sent Events) to the top of
   the feed. An event's data is a card rendered and escaped by the server; it is parsed with
   DOMParser (an inert document: nothing in it runs) and imported, never assigned to
   innerHTML. Pause buffers new cards; resume shows them. No inline script (CSP). */
(function () {
  "use strict";
  var feed = document.getElementById("feed");
  if (!feed || typeof window.EventSource !== "function") {
    return;
  }
  var MAX_CARDS = 200;
  var words = {};
  try {
    words = JSON.parse(feed.getAttribute("data-words") || "{}");
  } catch (err) {
    words = {};
  }
  var button = document.getElementById("pause");
  var status = document.getElementById("live-status");
  var paused = false;
  var buffer = [];
  var parser = new DOMParser();

  function say(text) {
    if (status) {
      status.textContent = text || "";
    }
  }

  function label() {
    if (!button) {
      return;
    }
    if (!paused) {
      button.textContent = words.pause || "Pause";
    } else if (buffer.length) {
      var waiting = (words["new"] || "{n} new").replace("{n}", String(buffer.length));
      button.textContent = (words.resume || "Resume") + " (" + waiting + ")";
    } else {
      button.textContent = words.resume || "Resume";
    }
    button.setAttribute("aria-pressed", paused ? "true" : "false");
  }

  function parseCard(html) {
    var doc = parser.parseFromString(html, "text/html");
    var card = doc.body.firstElementChild;
    if (!card || !card.classList.contains("mention")) {
      return null;
    }
    return document.importNode(card, true);
  }

  function known(card) {
    var id = card.getAttribute("data-id");
    if (!id) {
      return false;
    }
    var cards = feed.querySelectorAll(".mention");
    for (var i = 0; i < cards.length; i += 1) {
      if (cards[i].getAttribute("data-id") === id) {
        return true;
      }
    }
    return false;
  }

  function show(cards) {
    var empty = feed.querySelector(".empty");
    if (empty) {
      empty.remove();
    }
    cards.forEach(function (card) {
      if (known(card)) {
        return;
      }
      card.classList.add("fresh");
      feed.insertBefore(card, feed.firstChild);
    });
    var all = feed.querySelectorAll(".mention");
    for (var i = MAX_CARDS; i < all.length; i += 1) {
      all[i].remove();
    }
  }

  if (button) {
    button.hidden = false;
    label();
    button.addEventListener("click", function () {
      paused = !paused;
      if (!paused) {
        show(buffer);
        buffer = [];
      }
      label();
    });
  }

  var source = new window.EventSource(feed.getAttribute("data-stream") || "/live/stream");
  source.addEventListener("open", function () {
    say(words.connected);
  });
  source.addEventListener("error", function () {
    say(words.disconnected);
  });
  source.addEventListener("mention", function (event) {
    var card = parseCard(event.data);
    if (!card) {
      return;
    }
    if (paused) {
      buffer.push(card);
      if (buffer.length > MAX_CARDS) {
        buffer.shift();
      }
      label();
    } else {
      show([card]);
    }
  });
})();
