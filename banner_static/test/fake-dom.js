// Just enough of a DOM to run src/tags.js and src/autoblock.js under `node --test`:
// elements with attributes, a tree, selectors made of tag names and [attr] /
// [attr='value'] tests (a comma list of them, which is all tags.js asks), MutationObserver
// records delivered in a microtask as browsers do, and scripts that "run" when they are
// inserted: an inline one at once, an external one when the test calls load() or fail().
// As in browsers, a script with neither src nor text does nothing when inserted and starts
// when it is given a src; document.parse() inserts as the parser does (observers first,
// the script prepared at its end tag). browser() installs fresh globals for one test, so
// the prototypes autoblock.js patches are that test's own.

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
    if (name === "src" && this.tagName === "SCRIPT") this.ownerDocument.prepare(this);
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

  // An element as the parser would leave it: attributes set (not through setAttribute,
  // which a page's scripts may have wrapped), nonce hidden.
  element(tagName, attributes = {}, text = "") {
    const element = this.createElement(tagName);
    for (const name in attributes) {
      if (name === "nonce") element.nonce = attributes[name];
      Element.prototype.setAttribute.call(element, name, name === "nonce" ? "" : attributes[name]);
    }
    element.text = text;
    return element;
  }

  inserted(element, parsing = false) {
    if (!element.isConnected) return;
    for (const observer of this.observers) observer.notify(element);
    if (parsing) queueMicrotask(() => this.prepare(element));
    else this.prepare(element);
  }

  // Parser-inserted elements: observers are told, then (a microtask later, at the end tag)
  // each script is prepared.
  parse(parent, ...elements) {
    for (const element of elements) {
      element.parent = parent;
      parent.children.push(element);
      this.inserted(element, true);
    }
  }

  prepare(element) {
    if (element.tagName !== "SCRIPT" || element.started || !element.isConnected || element.type === "text/plain") return;
    const name = element.getAttribute("data-name") || element.text;
    if (!element.src) {
      // No code: nothing runs, and a src given later starts it.
      if (!element.text) return;
      element.started = true;
      this.ran.push(name);
      return;
    }
    element.started = true;
    this.loading.push({
      script: element,
      load: () => {
        this.ran.push(name);
        if (element.onload) element.onload();
      },
      fail: () => element.onerror && element.onerror(),
    });
  }
}

// Fresh globals for one test: document, MutationObserver, and the classes and objects
// autoblock.js wraps. `sent` records what fetch, sendBeacon and XMLHttpRequest were asked
// to send; innerHTML, insertAdjacentHTML, createContextualFragment and document.write
// record the HTML they were given in `html`.
export function browser() {
  const sent = [];
  const html = [];
  class BrowserElement extends Element {
    get innerHTML() {
      return html.at(-1);
    }
    set innerHTML(value) {
      html.push(value);
    }
    insertAdjacentHTML(position, value) {
      html.push(value);
    }
  }
  const srcAccessor = Object.getOwnPropertyDescriptor(Element.prototype, "src");
  const tagClass = () => {
    const Tag = class extends BrowserElement {};
    Object.defineProperty(Tag.prototype, "src", srcAccessor);
    return Tag;
  };
  const classes = { SCRIPT: tagClass(), IFRAME: tagClass(), IMG: tagClass() };
  class BrowserDocument extends Document {
    createElement(tagName) {
      const Tag = classes[tagName.toUpperCase()] || BrowserElement;
      return new Tag(this, tagName);
    }
    write(value) {
      html.push(value);
    }
  }
  const document = new BrowserDocument();
  document.baseURI = "https://shop.example/page";
  Object.assign(globalThis, {
    document,
    MutationObserver,
    Element: BrowserElement,
    HTMLScriptElement: classes.SCRIPT,
    HTMLIFrameElement: classes.IFRAME,
    HTMLImageElement: classes.IMG,
    Document: BrowserDocument,
    Range: class {
      createContextualFragment(value) {
        html.push(value);
      }
    },
    XMLHttpRequest: class {
      open(method, url) {
        sent.push(["xhr", url]);
      }
    },
    window: {
      fetch: (url) => {
        sent.push(["fetch", url]);
        return Promise.resolve();
      },
    },
  });
  Object.defineProperty(globalThis, "navigator", {
    configurable: true,
    value: {
      sendBeacon(url) {
        sent.push(["beacon", url]);
        return true;
      },
    },
  });
  return { document, sent, html };
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
