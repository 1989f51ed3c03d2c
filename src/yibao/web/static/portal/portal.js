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
