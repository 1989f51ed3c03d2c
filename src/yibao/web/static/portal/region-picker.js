// Region picker (progressive enhancement): a province select and a search box narrow the
// plain select of pooling regions that works without this file.
"use strict";

document.querySelectorAll("[data-region-picker]").forEach(function (box) {
  if (box.getAttribute("data-ready")) return;
  box.setAttribute("data-ready", "1");
  var select = box.querySelector("select");
  var chosen = select.value;
  var groups = Array.prototype.map.call(select.querySelectorAll("optgroup"), function (group) {
    return {
      label: group.label,
      options: Array.prototype.map.call(group.querySelectorAll("option"), function (option) {
        return { value: option.value, text: option.textContent };
      }),
    };
  });

  function control(tag, id, text) {
    var wrap = document.createElement("div");
    wrap.className = "field";
    var label = document.createElement("label");
    label.setAttribute("for", id);
    label.textContent = text;
    var element = document.createElement(tag);
    element.id = id;
    wrap.appendChild(label);
    wrap.appendChild(element);
    box.insertBefore(wrap, box.firstChild);
    return element;
  }

  var province = control("select", select.id + "-province", "省份");
  var search = control("input", select.id + "-search", "搜索地区");
  search.type = "search";
  search.placeholder = "输入地区名称，如“上海”";
  search.autocomplete = "off";
  province.appendChild(new Option("全部省份", ""));
  groups.forEach(function (group) { province.appendChild(new Option(group.label, group.label)); });

  function fill() {
    var words = search.value.trim();
    var current = select.value || chosen;
    select.textContent = "";
    select.appendChild(new Option("请选择", ""));
    groups.forEach(function (group) {
      if (province.value && group.label !== province.value) return;
      var matches = group.options.filter(function (option) {
        return !words || option.text.indexOf(words) >= 0 || group.label.indexOf(words) >= 0;
      });
      if (!matches.length) return;
      var element = document.createElement("optgroup");
      element.label = group.label;
      matches.forEach(function (option) {
        element.appendChild(new Option(option.text, option.value, false, option.value === current));
      });
      select.appendChild(element);
    });
    var only = select.querySelectorAll("optgroup option");
    if (words && only.length === 1) only[0].selected = true;
  }

  province.addEventListener("change", fill);
  search.addEventListener("input", fill);
});
