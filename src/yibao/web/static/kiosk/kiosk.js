/* The kiosk screen: the card and PIN steps, the on-screen PIN pad, printing, and the idle
   countdown that ends the session after a minute without a touch (the server keeps its own
   count too; this one warns first and brings the screen back to "请插入社保卡"). */
(function () {
  "use strict";

  // A page restored from the back/forward cache would show old data: ask the server again.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { window.location.reload(); }
  });

  var CARD = /^([A-Z][0-9]{8}|[0-9]{9})$/;
  var WARN_SECONDS = 10;
  var TOUCH_EVERY_MS = 3000;

  function setUpSignIn(form) {
    var cardStep = document.getElementById("step-card");
    var pinStep = document.getElementById("step-pin");
    var card = document.getElementById("card_number");
    var pin = document.getElementById("pin");
    var shown = document.getElementById("card-shown");

    function showPin() {
      var value = card.value.replace(/\s+/g, "").toUpperCase();
      if (!CARD.test(value)) { return false; }
      card.value = value;
      shown.textContent = value.charAt(0) + "******" + value.slice(-2);
      cardStep.hidden = true;
      pinStep.hidden = false;
      pin.value = "";
      var error = document.getElementById("signin-error");
      if (error) { error.hidden = true; }
      return true;
    }

    function showCard() {
      pin.value = "";
      card.value = "";
      pinStep.hidden = true;
      cardStep.hidden = false;
    }

    form.addEventListener("submit", function (event) {
      // On the card step "确定" moves on to the PIN pad instead of sending an empty PIN.
      if (!cardStep.hidden && showPin()) { event.preventDefault(); }
    });
    document.querySelectorAll(".k-demo-card").forEach(function (button) {
      button.addEventListener("click", function () {
        card.value = button.getAttribute("data-card");
        showPin();
      });
    });
    document.querySelectorAll(".k-key").forEach(function (button) {
      button.addEventListener("click", function () {
        var key = button.getAttribute("data-key");
        if (key === "clear") { pin.value = ""; }
        else if (key === "back") { pin.value = pin.value.slice(0, -1); }
        else if (pin.value.length < 6) { pin.value += key; }
      });
    });
    document.getElementById("pin-cancel").addEventListener("click", showCard);
    if (!pinStep.hidden && card.value) { shown.textContent = card.value.charAt(0) + "******" + card.value.slice(-2); }
  }

  function setUpIdle(seconds) {
    var warning = document.getElementById("idle-warning");
    var left = document.getElementById("idle-left");
    var exitForm = document.getElementById("exit-form");
    var csrf = exitForm.querySelector("input[name=csrf]").value;
    var deadline = Date.now() + seconds * 1000;
    var lastTouchSent = Date.now();
    var ended = false;

    function tellServer() {
      lastTouchSent = Date.now();
      var body = new URLSearchParams({ csrf: csrf });
      fetch("/kiosk/touch", { method: "POST", body: body, credentials: "same-origin" }).then(function (response) {
        if (response.status === 401) { window.location.replace("/kiosk?notice=idle"); }
      }).catch(function () { /* the next page load or the countdown will settle it */ });
    }

    function touched() {
      if (ended) { return; }
      deadline = Date.now() + seconds * 1000;
      warning.hidden = true;
      if (Date.now() - lastTouchSent >= TOUCH_EVERY_MS) { tellServer(); }
    }

    function tick() {
      var remaining = Math.ceil((deadline - Date.now()) / 1000);
      if (remaining <= 0) {
        ended = true;
        exitForm.querySelector("input[name=why]").value = "idle";
        exitForm.submit();
        return;
      }
      if (remaining <= Math.min(WARN_SECONDS, seconds)) {
        left.textContent = String(remaining);
        warning.hidden = false;
      }
      window.setTimeout(tick, 200);
    }

    ["pointerdown", "keydown", "touchstart"].forEach(function (name) {
      document.addEventListener(name, touched, { passive: true });
    });
    document.getElementById("idle-stay").addEventListener("click", tellServer);
    tick();
  }

  function setUpPrint() {
    var link = document.getElementById("print");
    var note = document.getElementById("print-note");
    if (!link || !note) { return; }
    link.addEventListener("click", function () {
      note.hidden = false;
      window.setTimeout(function () { note.hidden = true; }, 6000);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("signin");
    if (form) { setUpSignIn(form); }
    var seconds = Number(document.body.getAttribute("data-idle-seconds"));
    if (seconds > 0) { setUpIdle(seconds); }
    setUpPrint();
  });
})();
