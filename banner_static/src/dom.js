// h("button", {class: "b", onclick: fn}, "text"): builds elements with text nodes only,
// so no text from the configuration is ever parsed as HTML. Attributes that are false,
// empty or missing are left out, and so are children (arrays are flattened one level).
export function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const name in attributes) {
    const value = attributes[name];
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (value || value === 0) element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat().filter((child) => child || child === 0));
  return element;
}
