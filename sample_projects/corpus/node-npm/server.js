// Prints an HTML line with an uptime: enough to prove the dependencies load.
const escapeHtml = require("escape-html");
const ms = require("ms");

console.log(`<p>${escapeHtml("corpus <node-npm>")} up ${ms(90000)}</p>`);
