// The IAB Global Privacy Platform's CMP API (GPP 1.1) for the US opt-out variant:
// window.__gpp with the US National section (id 7, "usnat", version 2, the one the IAB's
// reference library writes) and its GPC sub-section, the "__gppLocator" frame for vendors
// in child frames, and whatever a stub on the page collected before we loaded.
// CMP id 1: the MSPA requires no registration, and the GPP spec gives unregistered CMPs 1.

// The US National core segment's fields, in the spec's order.
// (Pure: the opt-in build, which never calls startGpp, drops it.)
const FIELDS = /* @__PURE__ */ (
  "Version SharingNotice SaleOptOutNotice SharingOptOutNotice TargetedAdvertisingOptOutNotice " +
  "SensitiveDataProcessingOptOutNotice SensitiveDataLimitUseNotice SaleOptOut SharingOptOut " +
  "TargetedAdvertisingOptOut SensitiveDataProcessing KnownChildSensitiveDataConsents " +
  "PersonalDataConsents MspaCoveredTransaction MspaOptOutOptionMode MspaServiceProviderMode"
).split(" ");

export function startGpp() {
  const stub = typeof window.__gpp === "function" && window.__gpp;
  // What a stub collected: calls to answer, and listeners, which keep their ids.
  let { queue = [], events = [], lastId = 0 } = stub || {};
  const listeners = new Map(events.map((item) => [item.id, item.callback]));
  // The notices' and the opt-outs' values, and GPC; unset before the first update.
  let notices, optOuts, gpc;
  let gppString = "";
  let signalStatus = "not ready";

  const ours = (name) => /^(7|usnat)$/.test(name);
  // The section as getSection returns it, a fresh copy each time: one object per
  // sub-section. Nothing sensitive is processed (0), and no transaction is declared
  // MSPA-covered (2).
  const parsed = () => {
    const values = [2, notices, notices, notices, notices, 0, 0, optOuts, optOuts, optOuts, Array(16).fill(0), [0, 0, 0], 0, 2, 0, 0];
    return notices && [Object.fromEntries(FIELDS.map((name, i) => [name, values[i]])), { SubsectionType: 1, Gpc: gpc }];
  };
  const ping = () => ({
    gppVersion: "1.1",
    cmpStatus: "loaded",
    // The opt-out notice never blocks the page waiting for a choice.
    cmpDisplayStatus: "hidden",
    signalStatus,
    supportedAPIs: ["7:usnat"],
    cmpId: 1,
    sectionList: notices ? [7] : [],
    applicableSections: [7],
    gppString,
    parsedSections: notices ? { usnat: parsed() } : {},
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
  const status = (data) => fire("signalStatus", (signalStatus = data));

  const commands = {
    __proto__: null,
    ping,
    addEventListener: (parameter, callback) => (listeners.set(++lastId, callback), event("listenerRegistered", lastId, true)),
    removeEventListener: (id) => event("listenerRemoved", id, listeners.delete(+id)),
    hasSection: (name) => !!notices && ours(name),
    getSection: (name) => (ours(name) && parsed()) || null,
    getField: (path) => {
      const [name, field] = String(path).split(".");
      const found = ours(name) && notices && parsed().flatMap(Object.entries).find(([key]) => key === field);
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

  // update(notice, optOut, gpc): the notice was given; the visitor (or a signal) opted out
  // of sale, sharing and targeted advertising; the browser sends GPC. Notices: 1 given,
  // 2 not. Opt-outs: 1 opted out, 2 did not, 0 when no notice offered the choice.
  // Every change to the section is framed by signalStatus "not ready" and "ready", as the
  // spec orders; an update that changes nothing fires nothing.
  return (notice, optOut, signal) => {
    const next = notice ? 1 : 2;
    const out = optOut ? 1 : notice ? 2 : 0;
    // The string, base64url digit by digit (6 bits each). Header: type 3, version 1,
    // section ids [7] as a Fibonacci range, always "DBABLA". Core segment, 70 bits
    // zero-filled to 72: Version 2 ("C"); Sharing-, SaleOptOut- and SharingOptOutNotice
    // (a 2-bit value v three times is the digit 21 v: A, V or q); TargetedAdvertising-
    // OptOutNotice then the two sensitive-data notices, 0 (16 v: A, Q or g); the three
    // opt-outs (21 v); then zeros but MspaCoveredTransaction's 2 ("AAAAAACA"). The GPC
    // sub-section: type 1 in 2 bits, then GPC ("QA" or "YA"). The oracle tests check
    // every state byte for byte.
    const string = "DBABLA~C" + "AVq"[next] + "AQg"[next] + "AVq"[out] + "AAAAAACA." + (signal ? "YA" : "QA");
    if (string === gppString) return;
    if (notices) status("not ready");
    notices = next;
    optOuts = out;
    gpc = !!signal;
    gppString = string;
    fire("sectionChange", "usnat");
    status("ready");
  };
}
