// A tiny element builder: text always goes in as text, never parsed as HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

// Field values, open <details> and focus of a region, to survive a live re-render.
export function snapshot(root) {
  const fields = {};
  for (const el of root.querySelectorAll("input[id], select[id], details[id]")) {
    fields[el.id] = el.tagName === "DETAILS" ? { open: el.open } : { value: el.value };
  }
  const focused = root.contains(document.activeElement) ? document.activeElement.id : "";
  return { fields, focused, scroll: window.scrollY };
}

export function restore(root, state) {
  for (const [id, saved] of Object.entries(state.fields)) {
    const el = root.querySelector(`#${CSS.escape(id)}`);
    if (!el) continue;
    if ("open" in saved) el.open = saved.open;
    else el.value = saved.value;
  }
  if (state.focused) root.querySelector(`#${CSS.escape(state.focused)}`)?.focus();
  window.scrollTo(0, state.scroll);
}
