// Starts Swagger UI (loaded before this file) on /api/docs: the OpenAPI document's address comes
// from the page, so no inline script is needed under the site's CSP.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  if (!root || !window.SwaggerUIBundle) return;
  window.SwaggerUIBundle({
    url: root.getAttribute("data-spec"),
    domNode: root,
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // Requests from "Try it out" carry the CSRF header, so a signed-in person's session works.
    requestInterceptor: function (req) {
      var meta = document.querySelector("meta[name='csrf-token']");
      if (meta) req.headers["X-CSRFToken"] = meta.getAttribute("content");
      return req;
    }
  });
})();
