// Reading what the admin entered (category slugs, texts, URLs) as data: own properties
// only, so a slug such as "constructor" or "__proto__" is a key like any other, and only
// http(s) links, so a stored "javascript:" URL never becomes one.
export const has = (object, key) => Object.prototype.hasOwnProperty.call(object, key);

export const webUrl = (url) => /^https?:\/\//i.test(url) && url;
