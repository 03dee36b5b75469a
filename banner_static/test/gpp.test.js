// The GPP CMP API (src/gpp.js), checked against the GPP CMP API spec 1.1 and, for the
// string itself, against the IAB Tech Lab's own encoder and decoder (@iabgpp/cmpapi, a
// devDependency the banner does not ship) as an oracle.
import { test } from "node:test";
import assert from "node:assert/strict";
import { GppModel } from "@iabgpp/cmpapi";
import { startGpp } from "../src/gpp.js";

const NOTICES = ["SharingNotice", "SaleOptOutNotice", "SharingOptOutNotice", "TargetedAdvertisingOptOutNotice"];
const OPT_OUTS = ["SaleOptOut", "SharingOptOut", "TargetedAdvertisingOptOut"];

// Every state update() can be given, with the US National fields it must produce:
// notices 1 (given) or 2 (not given); opt-outs 1 (opted out), 2 (did not), or 0 (not
// applicable: no notice offered the choice).
const CASES = [
  { state: { notice: true, optOut: false, gpc: false }, notice: 1, optOut: 2 },
  { state: { notice: true, optOut: true, gpc: false }, notice: 1, optOut: 1 },
  { state: { notice: true, optOut: true, gpc: true }, notice: 1, optOut: 1 },
  { state: { notice: true, optOut: false, gpc: true }, notice: 1, optOut: 2 },
  { state: { notice: false, optOut: false, gpc: false }, notice: 2, optOut: 0 },
  { state: { notice: false, optOut: true, gpc: true }, notice: 2, optOut: 1 },
  { state: { notice: false, optOut: true, gpc: false }, notice: 2, optOut: 1 },
  { state: { notice: false, optOut: false, gpc: true }, notice: 2, optOut: 0 },
];

// The US National section's fields (version 2), as the oracle names them.
const usnatFields = ({ state, notice, optOut }) => ({
  Version: 2,
  ...Object.fromEntries(NOTICES.map((name) => [name, notice])),
  SensitiveDataProcessingOptOutNotice: 0,
  SensitiveDataLimitUseNotice: 0,
  ...Object.fromEntries(OPT_OUTS.map((name) => [name, optOut])),
  SensitiveDataProcessing: Array(16).fill(0),
  KnownChildSensitiveDataConsents: [0, 0, 0],
  PersonalDataConsents: 0,
  MspaCoveredTransaction: 2,
  MspaOptOutOptionMode: 0,
  MspaServiceProviderMode: 0,
  GpcSegmentType: 1,
  Gpc: state.gpc,
});

// startGpp() gives update(notice, optOut, gpc); the cases name the three.
const start = () => {
  const update = startGpp();
  return ({ notice, optOut, gpc }) => update(notice, optOut, gpc);
};

const label = ({ state }) => Object.entries(state).map(([key, on]) => (on ? key : `no ${key}`)).join(", ");

// A page without a DOM library: window (message listeners, frames), a document whose body
// can appear later, and optionally a stub installed before the banner, as sites do.
function page({ body = true, stub } = {}) {
  const messageHandlers = [];
  const appended = [];
  globalThis.window = {
    frames: {},
    addEventListener(type, handler) {
      if (type === "message") messageHandlers.push(handler);
    },
  };
  const newBody = () => ({ append: (element) => appended.push(element) });
  globalThis.document = {
    body: body ? newBody() : null,
    createElement: (tagName) => ({ tagName: tagName.toUpperCase(), style: {} }),
  };
  if (stub) globalThis.window.__gpp = stub;
  return {
    messageHandlers,
    appended,
    showBody: () => (globalThis.document.body = newBody()),
  };
}

// The page's window.__gpp, whichever is installed now (a stub's, then ours).
const __gpp = (...args) => globalThis.window.__gpp(...args);

// What one __gpp call passes to its callback: [data, success].
const call = (command, parameter) => {
  const answers = [];
  __gpp(command, (...args) => answers.push(args), parameter);
  assert.equal(answers.length, 1, `${command} answers once, at once`);
  return answers[0];
};
const ping = () => call("ping")[0];

// A deadline, never a fixed sleep, for what happens on a timer.
async function until(condition) {
  const deadline = Date.now() + 2000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

for (const expected of CASES) {
  test(`the oracle decodes our string to the expected fields (${label(expected)})`, () => {
    page();
    start()(expected.state);
    const decoded = new GppModel(ping().gppString);
    assert.deepEqual(decoded.getHeader(), { Id: 3, Version: 1, SectionIds: [7] });
    for (const [name, value] of Object.entries(usnatFields(expected))) {
      assert.deepEqual(decoded.getFieldValue("usnat", name), value, name);
    }
  });

  test(`the oracle encodes the same fields to our string, byte for byte (${label(expected)})`, () => {
    page();
    start()(expected.state);
    const model = new GppModel();
    for (const [name, value] of Object.entries(usnatFields(expected))) model.setFieldValue("usnat", name, value);
    assert.equal(ping().gppString, model.encode());
  });
}

test("the oracle encodes the section version our string carries, and GPC is never left out", () => {
  page();
  start()({ notice: true, optOut: false, gpc: false });
  // Its default: the version it writes unless told otherwise, which ours must be.
  const model = new GppModel();
  model.setFieldValue("usnat", "SharingNotice", 1);
  assert.equal(new GppModel(model.encode()).getFieldValue("usnat", "Version"), 2);
  const [header, section] = ping().gppString.split("~");
  assert.equal(header, "DBABLA");
  // Core segment "." GPC sub-section, each base64url without padding.
  assert.match(section, /^[\w-]{12}\.[\w-]{2}$/);
});

test("ping before the first update: loaded, no signal yet, no section", () => {
  page();
  start();
  const [data, success] = call("ping");
  assert.equal(success, true);
  assert.deepEqual(data, {
    gppVersion: "1.1",
    cmpStatus: "loaded",
    cmpDisplayStatus: "hidden",
    signalStatus: "not ready",
    supportedAPIs: ["7:usnat"],
    cmpId: 1,
    sectionList: [],
    applicableSections: [7],
    gppString: "",
    parsedSections: {},
  });
  assert.deepEqual(call("hasSection", "usnat"), [false, true]);
  assert.deepEqual(call("getSection", "usnat"), [null, false]);
  assert.deepEqual(call("getField", "usnat.SaleOptOut"), [null, false]);
});

test("ping after an update: ready, the string, and its sections parsed as the oracle parses them", () => {
  page();
  start()({ notice: true, optOut: true, gpc: true });
  const data = ping();
  assert.equal(data.signalStatus, "ready");
  assert.deepEqual(data.sectionList, [7]);
  assert.deepEqual(data.applicableSections, [7]);
  assert.deepEqual(Object.keys(data.parsedSections), ["usnat"]);
  // The spec's shape: one object per sub-section, the GPC one with SubsectionType 1.
  const [core, gpc] = data.parsedSections.usnat;
  assert.deepEqual(gpc, { SubsectionType: 1, Gpc: true });
  const oracle = new GppModel(data.gppString).getSection("usnat");
  assert.deepEqual({ ...core, GpcSegmentType: gpc.SubsectionType, Gpc: gpc.Gpc }, oracle);
  assert.deepEqual(Object.keys(core), Object.keys(oracle).slice(0, -2), "the spec's field order");
});

test("getSection gives the section's sub-sections, a fresh copy each time; other sections are null", () => {
  page();
  start()({ notice: true, optOut: false, gpc: false });
  const [section, success] = call("getSection", "usnat");
  assert.equal(success, true);
  assert.deepEqual(section, ping().parsedSections.usnat);
  assert.equal(section[0].SaleOptOut, 2);
  assert.deepEqual(section[1], { SubsectionType: 1, Gpc: false });
  section[0].SaleOptOut = 1;
  section[0].SensitiveDataProcessing[0] = 2;
  assert.equal(call("getSection", "usnat")[0][0].SaleOptOut, 2);
  assert.equal(call("getSection", "usnat")[0][0].SensitiveDataProcessing[0], 0);
  assert.deepEqual(call("getSection", 7), call("getSection", "usnat"));
  assert.deepEqual(call("getSection", "tcfeuv2"), [null, false]);
  assert.deepEqual(call("getSection", "uspv1"), [null, false]);
});

test("hasSection is true for the US National section only, by prefix or id", () => {
  page();
  start()({ notice: true, optOut: false, gpc: false });
  assert.deepEqual(call("hasSection", "usnat"), [true, true]);
  assert.deepEqual(call("hasSection", 7), [true, true]);
  for (const other of ["tcfeuv2", "uspv1", "usca", 8, "usnat2", undefined]) {
    assert.deepEqual(call("hasSection", other), [false, true], String(other));
  }
});

test("getField reads any field of either sub-section and follows every update", () => {
  page();
  const update = start();
  update({ notice: true, optOut: false, gpc: false });
  assert.deepEqual(call("getField", "usnat.SaleOptOut"), [2, true]);
  assert.deepEqual(call("getField", "usnat.SharingOptOutNotice"), [1, true]);
  assert.deepEqual(call("getField", "usnat.MspaCoveredTransaction"), [2, true]);
  assert.deepEqual(call("getField", "usnat.KnownChildSensitiveDataConsents"), [[0, 0, 0], true]);
  assert.deepEqual(call("getField", "usnat.Gpc"), [false, true]);
  update({ notice: true, optOut: true, gpc: true });
  for (const name of OPT_OUTS) assert.deepEqual(call("getField", `usnat.${name}`), [1, true], name);
  assert.deepEqual(call("getField", "usnat.Gpc"), [true, true]);
  assert.deepEqual(call("getField", "7.TargetedAdvertisingOptOut"), [1, true]);
  // Unknown fields and sections, and names every object inherits, are no fields.
  for (const path of ["usnat.Nope", "uspv1.Notice", "usnat.toString", "usnat.constructor", "usnat", "", undefined]) {
    assert.deepEqual(call("getField", path), [null, false], String(path));
  }
});

test("an unknown command is answered with null and no success; a callback's error stays its own", () => {
  page();
  start()({ notice: true, optOut: false, gpc: false });
  assert.deepEqual(call("getGPPData"), [null, false]);
  assert.deepEqual(call("toString"), [null, false]);
  assert.doesNotThrow(() => __gpp("ping", () => {
    throw new Error("a vendor's bug");
  }));
  assert.doesNotThrow(() => __gpp("ping"));
});

test("a listener is told at once, then gets signalStatus and sectionChange in the spec's order", () => {
  page();
  const update = start();
  const events = [];
  const [registered, success] = call("addEventListener");
  assert.equal(success, true);
  const { listenerId } = registered;
  assert.equal(registered.eventName, "listenerRegistered");
  assert.equal(registered.data, true);
  assert.equal(typeof listenerId, "number");
  assert.deepEqual(registered.pingData, ping());
  __gpp("addEventListener", (event, ok) => {
    if (event.eventName !== "listenerRegistered") events.push([event.eventName, event.data, event.pingData, ok]);
  });
  const seen = () => events.splice(0).map(([name, data, pingData, ok]) => [name, data, pingData.signalStatus, pingData.gppString, ok]);

  update({ notice: true, optOut: false, gpc: false });
  const first = ping().gppString;
  assert.deepEqual(seen(), [
    ["sectionChange", "usnat", "not ready", first, true],
    ["signalStatus", "ready", "ready", first, true],
  ]);

  update({ notice: true, optOut: false, gpc: false });
  assert.deepEqual(seen(), [], "an update that changes nothing fires nothing");

  update({ notice: true, optOut: true, gpc: true });
  const second = ping().gppString;
  assert.notEqual(second, first);
  assert.deepEqual(seen(), [
    ["signalStatus", "not ready", "not ready", first, true],
    ["sectionChange", "usnat", "not ready", second, true],
    ["signalStatus", "ready", "ready", second, true],
  ]);
});

test("listeners get their own ids; a removed one hears nothing more; a thrower stops no one", () => {
  page();
  const update = start();
  const heard = { a: [], b: [] };
  const register = (name) => __gpp("addEventListener", (event) => heard[name].push(event));
  __gpp("addEventListener", () => {
    throw new Error("a vendor's bug");
  });
  register("a");
  register("b");
  const ids = (name) => [...new Set(heard[name].map((event) => event.listenerId))];
  assert.equal(ids("a").length, 1);
  assert.equal(ids("b").length, 1);
  assert.notEqual(ids("a")[0], ids("b")[0]);

  const [removed, success] = call("removeEventListener", ids("a")[0]);
  assert.equal(success, true);
  assert.equal(removed.eventName, "listenerRemoved");
  assert.equal(removed.listenerId, ids("a")[0]);
  assert.equal(removed.data, true);
  assert.equal(call("removeEventListener", ids("a")[0])[0].data, false, "already removed");
  assert.equal(call("removeEventListener", 999)[0].data, false, "never registered");

  heard.a.length = heard.b.length = 0;
  assert.doesNotThrow(() => update({ notice: true, optOut: false, gpc: false }));
  assert.deepEqual(heard.a, []);
  assert.deepEqual(heard.b.map((event) => event.eventName), ["sectionChange", "signalStatus"]);
});

test("calls a queuing stub collected before the banner loaded are answered, in order", () => {
  const stub = function () {
    (stub.queue = stub.queue || []).push([...arguments]);
  };
  page({ stub });
  const order = [];
  __gpp("ping", (data) => order.push(["ping", data.cmpStatus, data.signalStatus]));
  __gpp("addEventListener", (event) => order.push([event.eventName, event.data]));
  __gpp("hasSection", (data) => order.push(["hasSection", data]), "usnat");
  assert.deepEqual(order, []);

  const update = start();
  assert.notEqual(globalThis.window.__gpp, stub);
  assert.deepEqual(order.splice(0), [
    ["ping", "loaded", "not ready"],
    ["listenerRegistered", true],
    ["hasSection", false],
  ]);
  update({ notice: true, optOut: false, gpc: false });
  assert.deepEqual(order, [["sectionChange", "usnat"], ["signalStatus", "ready"]]);
});

test("listeners registered with the IAB-style stub keep their ids and hear that the CMP loaded", () => {
  // Like the spec's example stub: it answers addEventListener itself, keeping the listener
  // in __gpp.events with the id it handed out (__gpp.lastId), and queues the rest.
  const stub = function (command, callback, parameter) {
    if (command === "addEventListener") {
      stub.lastId = (stub.lastId || 0) + 1;
      (stub.events = stub.events || []).push({ id: stub.lastId, callback, parameter });
      return { eventName: "listenerRegistered", listenerId: stub.lastId, data: true };
    }
    (stub.queue = stub.queue || []).push([...arguments]);
  };
  const { messageHandlers } = page({ stub });
  const heard = [];
  const early = __gpp("addEventListener", (event) => heard.push([event.eventName, event.listenerId, event.data]));
  assert.equal(early.listenerId, 1);

  const update = start();
  assert.deepEqual(heard.splice(0), [["cmpStatus", 1, "loaded"]]);
  assert.equal(call("addEventListener")[0].listenerId, 2, "ids go on from the stub's");
  update({ notice: true, optOut: false, gpc: false });
  assert.deepEqual(heard, [["sectionChange", 1, "usnat"], ["signalStatus", 1, "ready"]]);
  // The stub already listens for child frames' messages (and passes them to window.__gpp):
  // a second listener would answer every call twice.
  assert.equal(messageHandlers.length, 0);
});

test("a child frame's __gppCall message is answered with __gppReturn, as an object or as JSON", () => {
  const { messageHandlers } = page();
  const update = start();
  update({ notice: true, optOut: true, gpc: true });
  assert.equal(messageHandlers.length, 1);
  const replies = [];
  const source = { postMessage: (message, origin) => replies.push([message, origin]) };
  const post = (data) => messageHandlers[0]({ data, source });

  post({ __gppCall: { command: "getField", parameter: "usnat.SaleOptOut", version: "1.1", callId: 7 } });
  assert.deepEqual(replies.splice(0), [[{ __gppReturn: { returnValue: 1, success: true, callId: 7 } }, "*"]]);

  post(JSON.stringify({ __gppCall: { command: "ping", callId: "a1" } }));
  const [[text, origin]] = replies.splice(0);
  assert.equal(origin, "*");
  assert.deepEqual(JSON.parse(text), { __gppReturn: { returnValue: ping(), success: true, callId: "a1" } });

  // A listener in a child frame hears every later event through the same channel.
  post({ __gppCall: { command: "addEventListener", callId: 8 } });
  assert.equal(replies.splice(0)[0][0].__gppReturn.returnValue.eventName, "listenerRegistered");
  update({ notice: true, optOut: false, gpc: false });
  assert.deepEqual(
    replies.map(([message]) => [message.__gppReturn.callId, message.__gppReturn.returnValue.eventName]),
    [[8, "signalStatus"], [8, "sectionChange"], [8, "signalStatus"]],
  );
  replies.length = 0;

  for (const other of ["hello", "{not json", null, undefined, 42, { type: "other" }, { __gppCall: null }]) {
    assert.doesNotThrow(() => post(other));
  }
  assert.deepEqual(replies, []);
});

test("the __gppLocator frame is added, hidden, once the body exists, and not twice", async () => {
  const { appended, showBody } = page({ body: false });
  start();
  assert.deepEqual(appended, []);
  showBody();
  await until(() => appended.length);
  assert.equal(appended.length, 1);
  const [frame] = appended;
  assert.equal(frame.tagName, "IFRAME");
  assert.equal(frame.name, "__gppLocator");
  assert.equal(frame.style.display, "none");

  // A stub already made one: the page keeps that one.
  const again = page();
  globalThis.window.frames.__gppLocator = {};
  start();
  assert.deepEqual(again.appended, []);
});
