// Stands in for an analytics vendor: sets its cookies and says it ran.
document.cookie = "_ga=GA1.1.1234567890." + Math.floor(Date.now() / 1000) + "; path=/; max-age=63072000; SameSite=Lax";
document.cookie = "_ga_DEMO=GS1.1." + Math.floor(Date.now() / 1000) + "; path=/; max-age=63072000; SameSite=Lax";
document.dispatchEvent(new CustomEvent("demo:ran", { detail: "status-analytics" }));
