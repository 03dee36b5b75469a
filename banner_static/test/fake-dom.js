// Just enough of a DOM to run src/tags.js under `node --test`: elements with attributes,
// a tree, selectors made of tag names and [attr] / [attr='value'] tests (a comma list of
// them, which is all tags.js asks), MutationObserver records delivered in a microtask as
// browsers do, and scripts that "run" when they are inserted: an inline one at once, an
// external one when the test calls load() or fail().

const SIMPLE = /^([a-z]*)((?:\[[\w-]+(?:='[^']*')?\])*)$/;

function matcher(selector) {
  const alternatives = selector.split(",").map((part) => {
    const [, tag, tests] = part.trim().match(SIMPLE) || [];
    if (tests === undefined) throw new Error(`fake-dom cannot match ${part}`);
    const attributes = [...tests.matchAll(/\[([\w-]+)(?:='([^']*)')?\]/g)];
    return (element) =>
      (!tag || element.tagName === tag.toUpperCase()) &&
      attributes.every(([, name, value]) =>
        value === undefined ? element.hasAttribute(name) : element.getAttribute(name) === value);
  });
  return (element) => alternatives.some((test) => test(element));
}

class Element {
  constructor(document, tagName) {
    this.ownerDocument = document;
    this.tagName = tagName.toUpperCase();
    this.values = new Map();
    this.children = [];
    this.parent = null;
    this.text = "";
    // Browsers hide a nonce attribute's value once parsed; the property keeps it.
    this.nonce = "";
  }

  get attributes() {
    return [...this.values].map(([name, value]) => ({ name, value }));
  }
  hasAttribute(name) {
    return this.values.has(name);
  }
  getAttribute(name) {
    return this.values.has(name) ? this.values.get(name) : null;
  }
  setAttribute(name, value) {
    this.values.set(name, String(value));
  }
  removeAttribute(name) {
    this.values.delete(name);
  }
  get src() {
    return this.getAttribute("src") || "";
  }
  set src(value) {
    this.setAttribute("src", value);
  }
  get type() {
    return this.getAttribute("type") || "";
  }
  set type(value) {
    this.setAttribute("type", value);
  }

  matches(selector) {
    return matcher(selector)(this);
  }
  querySelectorAll(selector) {
    const test = matcher(selector);
    const found = [];
    const walk = (element) => {
      for (const child of element.children) {
        if (test(child)) found.push(child);
        walk(child);
      }
    };
    walk(this);
    return found;
  }

  append(...children) {
    for (const child of children) {
      child.parent = this;
      this.children.push(child);
      this.ownerDocument.inserted(child);
    }
  }
  replaceWith(other) {
    const siblings = this.parent.children;
    siblings[siblings.indexOf(this)] = other;
    other.parent = this.parent;
    this.parent = null;
    this.ownerDocument.inserted(other);
  }
  get isConnected() {
    let element = this;
    while (element.parent) element = element.parent;
    return element === this.ownerDocument.documentElement;
  }
}

export class Document {
  constructor() {
    this.documentElement = new Element(this, "html");
    this.head = new Element(this, "head");
    this.body = new Element(this, "body");
    this.documentElement.children.push(this.head, this.body);
    this.head.parent = this.body.parent = this.documentElement;
    this.observers = [];
    // What ran, in order: each script's data-name, or its text when it has none.
    this.ran = [];
    // External scripts inserted and not yet loaded: {script, load(), fail()}.
    this.loading = [];
  }

  createElement(tagName) {
    return new Element(this, tagName);
  }
  querySelectorAll(selector) {
    return this.documentElement.querySelectorAll(selector);
  }

  // A placeholder as the parser would leave it: attributes set, nonce hidden.
  element(tagName, attributes = {}, text = "") {
    const element = this.createElement(tagName);
    for (const name in attributes) {
      if (name === "nonce") element.nonce = attributes[name];
      element.setAttribute(name, name === "nonce" ? "" : attributes[name]);
    }
    element.text = text;
    return element;
  }

  inserted(element) {
    if (!element.isConnected) return;
    for (const observer of this.observers) observer.notify(element);
    if (element.tagName !== "SCRIPT" || element.type === "text/plain") return;
    const name = element.getAttribute("data-name") || element.text;
    if (!element.src) {
      this.ran.push(name);
      return;
    }
    this.loading.push({
      script: element,
      load: () => {
        this.ran.push(name);
        element.onload();
      },
      fail: () => element.onerror(),
    });
  }
}

export class MutationObserver {
  constructor(callback) {
    this.callback = callback;
    this.pending = [];
  }
  observe(target) {
    target.observers.push(this);
  }
  notify(node) {
    if (!this.pending.length) {
      queueMicrotask(() => {
        const records = this.pending.map((added) => ({ addedNodes: [added] }));
        this.pending = [];
        this.callback(records, this);
      });
    }
    this.pending.push(node);
  }
}

// Lets queued microtasks (MutationObserver records) run.
export const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
