// The site's own script: it must start at once, whatever the banner holds back.
(window.__ran = window.__ran || []).push("first-party");
window.__firstPartyStart = performance.now();
