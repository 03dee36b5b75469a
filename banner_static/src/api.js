// Posts each decision to the platform. A decision is queued in localStorage before it is
// sent and leaves the queue only once the server answered, so a network failure, a 5xx,
// a 429 or a page closed mid-request never loses it: the next page view (or the browser
// coming back online) sends it again, with the same decision_id and "resent": true, so the
// platform looks for it and records it once even when only its answer was lost. Other 4xx
// answers will never succeed and are dropped.

const QUEUE = "consent:queue";

const load = () => {
  try {
    return JSON.parse(localStorage[QUEUE] || "[]");
  } catch {
    return [];
  }
};

const save = (queue) => {
  try {
    localStorage[QUEUE] = JSON.stringify(queue);
  } catch {
    // Storage blocked or full: the decision is still posted, just not retried.
  }
};

function send(item) {
  return fetch(item.url, {
    method: "POST",
    keepalive: true,
    credentials: "omit",
    headers: { "Content-Type": "application/json" },
    body: item.body,
  }).then((response) => {
    if (response.status < 500 && response.status !== 429) settle(item);
  }, () => {});
}

const settle = (item) => save(load().filter((queued) => queued.key !== item.key));

// Resolves once the platform answered (or the decision is queued to be sent again).
export function postDecision(url, payload) {
  const item = { key: payload.decision_id, url, body: JSON.stringify(payload) };
  save(load().concat(item));
  return send(item);
}

export function retryQueued() {
  load().forEach((item) => send({ ...item, body: JSON.stringify({ ...JSON.parse(item.body), resent: true }) }));
}
