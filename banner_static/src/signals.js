// Universal opt-out signals. GPC is an opt-out of sale/sharing under CPRA (regs §7025)
// and DNT is honoured the same way, so either turns every optional category off,
// whatever was stored. Only the exact values count: `true` and "1".
// ADPC (`ADPC: withdraw=*` or `object=*`) is a request header the page cannot read: the
// platform serves a script whose config says so (adpc).
export const optOutSignal = (adpc) =>
  navigator.globalPrivacyControl === true ? "gpc" : navigator.doNotTrack === "1" ? "dnt" : adpc ? "adpc" : "";
