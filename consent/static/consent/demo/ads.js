// Stands in for an advertising vendor: sets its cookie and says it ran.
document.cookie = "_fbp=fb.1." + Date.now() + ".42; path=/; max-age=7776000; SameSite=Lax";
document.dispatchEvent(new CustomEvent("demo:ran", { detail: "status-ads" }));
