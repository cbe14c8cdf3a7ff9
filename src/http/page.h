// The topology page served at GET /: one self-contained HTML document (inline CSS and JavaScript, no external
// assets) that polls /api/topology once a second. Stateless.
#pragma once

namespace ll::http {

[[nodiscard]] const char* topology_page_html();

}  // namespace ll::http
