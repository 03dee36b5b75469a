// The IAB Global Privacy Platform's CMP API (GPP 1.1) for the US opt-out variant:
// window.__gpp with the US National section (id 7, "usnat", version 2, the one the IAB's
// reference library writes) and its GPC sub-section, the "__gppLocator" frame for vendors
// in child frames, and whatever a stub on the page collected before we loaded.
// CMP id 1: the MSPA requires no registration, and the GPP spec gives unregistered CMPs 1.

// The header never changes: type 3, version 1, section ids [7] as a Fibonacci range.
const HEADER = "DBABLA";

// The US National core segment, in the spec's order. Every field is 2 bits wide but
// Version (6); the two N-Bitfields are 2 bits an item.
// (Pure: the opt-in build, which never calls startGpp, drops it.)
const FIELDS = /* @__PURE__ */ (
  "Version SharingNotice SaleOptOutNotice SharingOptOutNotice TargetedAdvertisingOptOutNotice " +
  "SensitiveDataProcessingOptOutNotice SensitiveDataLimitUseNotice SaleOptOut SharingOptOut " +
  "TargetedAdvertisingOptOut SensitiveDataProcessing KnownChildSensitiveDataConsents " +
  "PersonalDataConsents MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"
).split(" ");

// The section as getSection returns it: one object per sub-section. Notices: 1 given,
// 2 not. Opt-outs: 1 opted out, 2 did not, 0 when no notice offered the choice. Nothing
// sensitive is processed (0), and no transaction is declared MSPA-covered (2).
const sections = (notice, optOut, gpc) => {
  const n = notice ? 1 : 2;
  const o = optOut ? 1 : notice ? 2 : 0;
  const values = [2, n, n, n, n, 0, 0, o, o, o, Array(16).fill(0), [0, 0, 0], 0, 2, 0, 0];
  return [Object.fromEntries(FIELDS.map((name, i) => [name, values[i]])), { SubsectionType: 1, Gpc: !!gpc }];
};

// "0"/"1" characters to base64url without padding, zero-filled to whole bytes first. No
// value here has five 1 bits in a row, so base64's "+" and "/" (62, 63), the characters
// base64url replaces, cannot occur; the oracle tests compare every state byte for byte.
const base64url = (bits) =>
  btoa(bits.match(/.{1,8}/g).map((byte) => String.fromCharCode(parseInt(byte.padEnd(8, 0), 2))).join("")).replace(/=/g, "");

const encode = ([core, { Gpc }]) =>
  HEADER + "~" +
  base64url(Object.values(core).flat().map((value, i) => value.toString(2).padStart(i ? 2 : 6, 0)).join("")) +
  "." + base64url("01" + +Gpc);

export function startGpp(cmpVersion) {
  const stub = typeof window.__gpp === "function";
  // What a stub collected: calls to answer, and listeners, which keep their ids.
  let { queue = [], events = [], lastId = 0 } = (stub && window.__gpp) || {};
  const listeners = new Map(events.map((item) => [item.id, item.callback]));
  let state;
  let gppString = "";
  let ready = false;

  const ours = (name) => /^(7|usnat)$/.test(name);
  const parsed = () => state && sections(...state);
  const ping = () => ({
    gppVersion: "1.1",
    cmpStatus: "loaded",
    // The opt-out notice never blocks the page waiting for a choice.
    cmpDisplayStatus: "hidden",
    signalStatus: ready ? "ready" : "not ready",
    supportedAPIs: ["7:usnat"],
    cmpId: 1,
    cmpVersion,
    sectionList: state ? [7] : [],
    applicableSections: [7],
    gppString,
    parsedSections: state ? { usnat: parsed() } : {},
  });
  const event = (eventName, listenerId, data) => ({ eventName, listenerId, data, pingData: ping() });
  // A caller's broken callback is its own problem, never the banner's.
  const answer = (callback, data) => {
    try {
      callback(data, data !== null);
    } catch {
      // ignored
    }
  };
  const fire = (name, data) => listeners.forEach((callback, id) => answer(callback, event(name, id, data)));

  const commands = {
    __proto__: null,
    ping,
    addEventListener: (parameter, callback) => {
      listeners.set(++lastId, callback);
      return event("listenerRegistered", lastId, true);
    },
    removeEventListener: (id) => event("listenerRemoved", id, listeners.delete(+id)),
    hasSection: (name) => !!state && ours(name),
    getSection: (name) => (ours(name) && parsed()) || null,
    getField: (path) => {
      const [name, field] = String(path).split(".");
      const found = ours(name) && state && parsed().flatMap(Object.entries).find(([key]) => key === field);
      return found ? found[1] : null;
    },
  };
  const gpp = (command, callback, parameter) =>
    answer(callback, commands[command] ? commands[command](parameter, callback) : null);

  // Child frames post __gppCall messages. A stub's own handler passes them to window.__gpp,
  // which is us once replaced; without a stub we listen ourselves.
  if (!stub) {
    window.addEventListener("message", ({ data, source }) => {
      const text = typeof data === "string";
      let call;
      try {
        call = (text ? JSON.parse(data) : data).__gppCall;
      } catch {
        // Not a message for us.
      }
      if (call) {
        gpp(call.command, (returnValue, success) => {
          const reply = { __gppReturn: { returnValue, success, callId: call.callId } };
          source.postMessage(text ? JSON.stringify(reply) : reply, "*");
        }, call.parameter);
      }
    });
  }
  // Child frames find the API by looking for this frame's name in their ancestors.
  const frame = document.createElement("iframe");
  frame.name = "__gppLocator";
  frame.style.display = "none";
  const locate = () =>
    document.body ? window.frames.__gppLocator || document.body.append(frame) : setTimeout(locate, 9);
  locate();

  window.__gpp = gpp;
  fire("cmpStatus", "loaded");
  for (const call of queue) gpp(...call);

  // Every change to the section is framed by signalStatus "not ready" and "ready", as the
  // spec orders; an update that changes nothing fires nothing.
  return ({ notice, optOut, gpc }) => {
    const next = [notice, optOut, gpc];
    const string = encode(sections(...next));
    if (string === gppString) return;
    if (ready) {
      ready = false;
      fire("signalStatus", "not ready");
    }
    state = next;
    gppString = string;
    fire("sectionChange", "usnat");
    ready = true;
    fire("signalStatus", "ready");
  };
}
