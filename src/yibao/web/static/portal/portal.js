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

// 长辈模式 (elder mode, as the national app's 关怀版): larger text, fewer items, bigger touch
// targets. Remembered per browser in a cookie that says nothing about the person, so the
// server renders the next page in the same mode from its first paint.
(function () {
  var COOKIE = "yb_elder";
  var root = document.documentElement;
  var switches = document.querySelectorAll("[data-elder-switch]");
  function show(on) {
    root.classList.toggle("elder", on);
    switches.forEach(function (button) {
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.textContent = on ? "标准模式" : "长辈模式";
    });
  }
  switches.forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var on = !root.classList.contains("elder");
      document.cookie = COOKIE + "=" + (on ? "1" : "0") + "; path=/; max-age=" + (on ? 31536000 : 0) + "; samesite=lax";
      show(on);
    });
  });
  show(root.classList.contains("elder"));
})();

// Region picker: a filter box over the grouped province → city select. Typing keeps only the
// matching cities (by name, short name or code); a single match is chosen at once.
document.querySelectorAll("[data-region-picker]").forEach(function (picker) {
  var filter = picker.querySelector(".region-filter");
  var select = picker.querySelector("select");
  var count = picker.querySelector(".region-count");
  filter.hidden = false;
  filter.addEventListener("input", function () {
    var words = filter.value.trim().toLowerCase();
    var shown = [];
    select.querySelectorAll("optgroup").forEach(function (group) {
      var any = false;
      group.querySelectorAll("option").forEach(function (option) {
        var match = !words || (option.getAttribute("data-search") + " " + option.textContent).toLowerCase().indexOf(words) >= 0;
        option.hidden = !match;
        option.disabled = !match;
        if (match) { any = true; shown.push(option); }
      });
      group.hidden = !any;
    });
    if (words && shown.length === 1) { select.value = shown[0].value; }
    count.hidden = !words;
    count.textContent = shown.length ? "找到 " + shown.length + " 个地区" : "没有找到，请换个名称试试";
  });
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
