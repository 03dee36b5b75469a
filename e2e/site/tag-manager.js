// A stand-in for a tag manager (Google Tag Manager, Tealium, ...): the site's own script,
// loaded first thing after the banner, that adds the vendors' published snippets at run
// time in the ways tag managers do. What it saw is in window.__tm.
(function () {
  const log = (window.__tm = []);
  const SNIPPETS = {
    gtag: `<!-- Google tag (gtag.js) -->
<script async src="https://www.googletagmanager.com/gtag/js?id=G-TEST000002"><\/script>
<script>
  window.dataLayer = window.dataLayer || [];
  function gtag(){dataLayer.push(arguments);}
  gtag('js', new Date());

  gtag('config', 'G-TEST000002');
<\/script>`,
    meta: `<!-- Meta Pixel Code -->
<script>
!function(f,b,e,v,n,t,s)
{if(f.fbq)return;n=f.fbq=function(){n.callMethod?
n.callMethod.apply(n,arguments):n.queue.push(arguments)};
if(!f._fbq)f._fbq=n;n.push=n;n.loaded=!0;n.version='2.0';
n.queue=[];t=b.createElement(e);t.async=!0;
t.src=v;s=b.getElementsByTagName(e)[0];
s.parentNode.insertBefore(t,s)}(window, document,'script',
'https://connect.facebook.net/en_US/fbevents.js');
fbq('init', '100000000000002');
fbq('track', 'PageView');
<\/script>
<noscript><img height="1" width="1" style="display:none"
src="https://www.facebook.com/tr?id=100000000000002&ev=PageView&noscript=1"
/></noscript>
<!-- End Meta Pixel Code -->`,
    hotjar: `<!-- Hotjar Tracking Code for Demo shop -->
<script>
    (function(h,o,t,j,a,r){
        h.hj=h.hj||function(){(h.hj.q=h.hj.q||[]).push(arguments)};
        h._hjSettings={hjid:1000002,hjsv:6};
        a=o.getElementsByTagName('head')[0];
        r=o.createElement('script');r.async=1;
        r.src=t+h._hjSettings.hjid+j+h._hjSettings.hjsv;
        a.appendChild(r);
    })(window,document,'https://static.hotjar.com/c/hotjar-','.js?sv=');
<\/script>`,
    linkedin: `<script type="text/javascript">
_linkedin_partner_id = "1000002";
window._linkedin_data_partner_ids = window._linkedin_data_partner_ids || [];
window._linkedin_data_partner_ids.push(_linkedin_partner_id);
<\/script><script type="text/javascript">
(function(l) {
if (!l){window.lintrk = function(a,b){window.lintrk.q.push([a,b])};
window.lintrk.q=[]}
var s = document.getElementsByTagName("script")[0];
var b = document.createElement("script");
b.type = "text/javascript";b.async = true;
b.src = "https://snap.licdn.com/li.lms-analytics/insight.min.js";
s.parentNode.insertBefore(b, s);})(window.lintrk);
<\/script>
<noscript>
<img height="1" width="1" style="display:none;" alt="" src="https://px.ads.linkedin.com/collect/?pid=1000002&fmt=gif" />
<\/noscript>`,
    youtube: `<iframe width="560" height="315" src="https://www.youtube.com/embed/cUpS0000002?si=TestTestTest" title="YouTube video player" frameborder="0" allow="accelerometer; autoplay; clipboard-write; encrypted-media; gyroscope; picture-in-picture; web-share" referrerpolicy="strict-origin-when-cross-origin" allowfullscreen></iframe>`,
    post: `<iframe src="https://www.facebook.com/plugins/post.php?href=https%3A%2F%2Fwww.facebook.com%2Fdemoshop%2Fposts%2F1&show_text=true&width=500" width="500" height="498" style="border:none;overflow:hidden" scrolling="no" frameborder="0" allowfullscreen="true" allow="autoplay; clipboard-write; encrypted-media; picture-in-picture; web-share" title="Facebook post"></iframe>`,
  };

  // As Google Tag Manager adds a Custom HTML tag: parsed in a detached element, then each
  // script re-created (attribute by attribute) so that it runs.
  function customHtml(html, parent) {
    const holder = document.createElement("div");
    holder.innerHTML = html;
    for (const node of [...holder.childNodes]) {
      if (node.nodeName === "SCRIPT") {
        const script = document.createElement("script");
        for (const { name, value } of node.attributes) script.setAttribute(name, value);
        script.text = node.text;
        parent.appendChild(script);
      } else {
        parent.appendChild(node);
      }
    }
  }

  // While the page is parsed, as older tag managers do.
  document.write(SNIPPETS.gtag);
  customHtml(SNIPPETS.meta, document.head);
  customHtml(SNIPPETS.hotjar, document.head);

  document.addEventListener("DOMContentLoaded", () => {
    customHtml(SNIPPETS.linkedin, document.body);
    document.getElementById("video").innerHTML = SNIPPETS.youtube;
    document.getElementById("post").insertAdjacentHTML("beforeend", SNIPPETS.post);
    // A conversion pixel added by setAttribute, and a beacon sent by an Image never inserted.
    const pixel = document.createElement("img");
    pixel.setAttribute("src", "https://px.ads.linkedin.com/collect/?pid=1000002&fmt=gif&from=tag-manager");
    pixel.alt = "";
    document.body.append(pixel);
    new Image().src = "https://www.facebook.com/tr?id=100000000000002&ev=PageView&from=image-beacon";
    // Requests to a vendor: refused now, and never sent later.
    window.__sendRequests("before-consent");
    log.push("done");
  });

  // fetch, XMLHttpRequest and sendBeacon to a vendor's host, and fetch to the site itself.
  window.__sendRequests = (when) => {
    const collect = `https://www.google-analytics.com/g/collect?v=2&from=${when}`;
    fetch(collect + "-fetch", { mode: "no-cors" }).then(() => log.push(`${when} fetch sent`), () => log.push(`${when} fetch refused`));
    const xhr = new XMLHttpRequest();
    xhr.open("POST", collect + "-xhr");
    xhr.onerror = () => log.push(`${when} xhr refused`);
    xhr.onload = () => log.push(`${when} xhr sent`);
    xhr.send("x");
    log.push(`${when} beacon ` + (navigator.sendBeacon(collect + "-beacon", "x") ? "sent" : "refused"));
    fetch("/ping").then((response) => response.text()).then(() => log.push(`${when} first-party fetch sent`), () => log.push(`${when} first-party fetch refused`));
  };
})();
