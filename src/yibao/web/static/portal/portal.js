// Progressive enhancement only: every page works without this file.
"use strict";

// The e-voucher's QR code counts down its 60 seconds and is hidden when it expires.
document.querySelectorAll("[data-countdown]").forEach(function (voucher) {
  var left = parseInt(voucher.getAttribute("data-countdown"), 10);
  var text = voucher.querySelector("[data-countdown-text]");
  var qr = voucher.querySelector(".qr-box");
  var note = voucher.querySelector(".expired-note");
  var timer = setInterval(function () {
    left -= 1;
    if (left > 0) {
      text.textContent = "二维码 " + left + " 秒内有效";
      return;
    }
    clearInterval(timer);
    text.textContent = "二维码已过期";
    voucher.classList.add("expired");
    qr.setAttribute("aria-hidden", "true");
    note.hidden = false;
  }, 1000);
});

// The e-voucher asks for a fresh code a few seconds before the shown one expires, a limited
// number of times in a row and only while the page is in view; the button stays for the rest.
document.querySelectorAll("[data-refresh-before]").forEach(function (voucher) {
  var left = parseInt(voucher.getAttribute("data-countdown"), 10);
  var before = parseInt(voucher.getAttribute("data-refresh-before"), 10);
  var autoLeft = parseInt(voucher.getAttribute("data-auto-left"), 10);
  var form = document.querySelector("[data-evoucher-form]");
  if (!form || !(autoLeft > 0) || !(left > before)) {
    return;
  }
  var count = form.querySelector("[data-auto-count]");
  voucher.querySelector(".auto-note").hidden = false;
  setTimeout(function () {
    if (document.hidden) {
      return;
    }
    count.value = String(parseInt(count.getAttribute("data-auto-count"), 10) + 1);
    form.submit();
  }, (left - before) * 1000);
});
