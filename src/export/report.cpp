#include "export/report.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "export/inspect.h"
#include "io/mask_file.h"
#include "util/error.h"
#include "util/json_io.h"

namespace patchlm {
namespace fs = std::filesystem;
namespace {

const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

std::string esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v, int precision = 4) {
  std::ostringstream os;
  os.precision(precision);
  os << v;
  return os.str();
}

// Every record of a JSON Lines file (util/json_io's reader: errors name the file and line).
std::vector<nlohmann::json> read_jsonl(const fs::path& path) {
  std::vector<nlohmann::json> rows;
  for_each_jsonl(path, [&](const nlohmann::json& value, const std::string&) { rows.push_back(value); });
  return rows;
}

// ---- one chart: series of points on linear x and linear or log y, with an optional horizontal reference line ----

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;
  bool lines = true;
};

std::string chart(const std::string& title, const std::vector<Series>& series, const std::string& xlabel,
                  const std::string& ylabel, bool log_y, double reference = NAN, const std::string& reference_name = "",
                  double x_from = NAN) {
  constexpr double W = 720, H = 340, L = 64, R = 230, T = 30, B = 44;
  double x0 = std::numeric_limits<double>::max(), x1 = -x0, y0 = x0, y1 = -x0;
  auto ty = [&](double y) { return log_y ? std::log10(std::max(y, 1e-12)) : y; };
  for (const Series& s : series)
    for (auto [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, ty(y)), y1 = std::max(y1, ty(y));
    }
  if (std::isfinite(reference)) y0 = std::min(y0, ty(reference)), y1 = std::max(y1, ty(reference));
  if (x0 > x1) return "";
  if (std::isfinite(x_from)) x0 = std::min(x0, x_from);
  if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
  if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad, y1 += pad;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return H - B - (ty(y) - y0) / (y1 - y0) * (H - T - B); };
  std::ostringstream s;
  s << "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" viewBox=\"0 0 " << W << ' ' << H << "\"><title>" << esc(title) << "</title>";
  s << "<text x=\"" << L << "\" y=\"18\" class=\"ct\">" << esc(title) << "</text>";
  for (int i = 0; i <= 4; ++i) {  // grid and tick labels
    double fx = x0 + (x1 - x0) * i / 4, fy = y0 + (y1 - y0) * i / 4;
    double yv = log_y ? std::pow(10.0, fy) : fy;
    s << "<line x1=\"" << px(fx) << "\" y1=\"" << T << "\" x2=\"" << px(fx) << "\" y2=\"" << H - B
      << "\" class=\"grid\"/><text x=\"" << px(fx) << "\" y=\"" << H - B + 16 << "\" class=\"tick\">" << num(fx, 4)
      << "</text>";
    double yy = H - B - (fy - y0) / (y1 - y0) * (H - T - B);
    s << "<line x1=\"" << L << "\" y1=\"" << yy << "\" x2=\"" << W - R << "\" y2=\"" << yy
      << "\" class=\"grid\"/><text x=\"" << L - 6 << "\" y=\"" << yy + 4 << "\" class=\"tick\" text-anchor=\"end\">"
      << num(yv, 4) << "</text>";
  }
  s << "<text x=\"" << (L + W - R) / 2 << "\" y=\"" << H - 6 << "\" class=\"axis\">" << esc(xlabel) << "</text>"
    << "<text x=\"14\" y=\"" << (T + H - B) / 2 << "\" class=\"axis\" transform=\"rotate(-90 14 " << (T + H - B) / 2
    << ")\">" << esc(ylabel) << (log_y ? " (log)" : "") << "</text>";
  if (std::isfinite(reference))
    s << "<line x1=\"" << L << "\" y1=\"" << py(reference) << "\" x2=\"" << W - R << "\" y2=\"" << py(reference)
      << "\" class=\"ref\"/><text x=\"" << W - R + 6 << "\" y=\"" << py(reference) + 4 << "\" class=\"legend\">"
      << esc(reference_name) << "</text>";
  for (std::size_t k = 0; k < series.size(); ++k) {
    const Series& se = series[k];
    const char* color = kPalette[k % 8];
    if (se.lines && se.points.size() > 1) {
      s << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\"";
      for (auto [x, y] : se.points) s << px(x) << ',' << py(y) << ' ';
      s << "\"/>";
    }
    if (!se.lines || se.points.size() <= 40)
      for (auto [x, y] : se.points)
        s << "<circle cx=\"" << px(x) << "\" cy=\"" << py(y) << "\" r=\"4\" fill=\"" << color << "\"><title>"
          << esc(se.name) << ": " << num(x) << ", " << num(y) << "</title></circle>";
    s << "<rect x=\"" << W - R + 6 << "\" y=\"" << T + 16 * k << "\" width=\"10\" height=\"10\" fill=\"" << color
      << "\"/><text x=\"" << W - R + 20 << "\" y=\"" << T + 9 + 16 * k << "\" class=\"legend\">" << esc(se.name)
      << "</text>";
  }
  s << "</svg>";
  return s.str();
}

// ---- sections ----

std::string tradeoff_section(const std::vector<nlohmann::json>& rows) {
  std::map<std::string, Series> families;
  double dense = NAN;
  std::ostringstream table;
  table << "<table><tr><th>run</th><th>pattern</th><th>sparsity</th><th>perplexity</th></tr>";
  for (const auto& r : rows) {
    std::string method = r.value("method", "?");
    double sparsity = r.value("sparsity", NAN), ppl = r.value("ppl", NAN);
    table << "<tr><td>" << esc(method) << "</td><td>" << esc(r.value("pattern", "")) << "</td><td>" << num(sparsity)
          << "</td><td>" << num(ppl, 5) << "</td></tr>";
    if (method == "dense") {
      dense = ppl;
      continue;
    }
    // patch-joint-0.35 and patch-joint-0.45 are one family, drawn as a line.
    std::string family = std::regex_replace(method, std::regex("-[0-9.]+$"), "");
    Series& s = families[family];
    s.name = family;
    s.points.emplace_back(sparsity, ppl);
  }
  table << "</table>";
  std::vector<Series> series;
  for (auto& [name, s] : families) {
    std::sort(s.points.begin(), s.points.end());
    series.push_back(s);
  }
  return "<section id=\"tradeoff\"><h2>Sparsity – perplexity trade-off</h2>" +
         chart("perplexity vs global sparsity", series, "global sparsity", "perplexity", true, dense, "dense", 0.0) +
         table.str() + "</section>";
}

std::string curves_section(const std::vector<std::pair<std::string, std::vector<nlohmann::json>>>& runs) {
  std::ostringstream s;
  s << "<section id=\"curves\"><h2>Learning curves</h2>";
  for (const auto& [name, rows] : runs) {
    std::vector<Series> ce{{"cross-entropy", {}}}, sparsity{{"sparsity", {}}}, tau{{"tau", {}}};
    for (const auto& r : rows) {
      double step = r.value("step", NAN);
      ce[0].points.emplace_back(step, r.value("ce", NAN));
      sparsity[0].points.emplace_back(step, r.value("sparsity", NAN));
      tau[0].points.emplace_back(step, r.value("tau", NAN));
    }
    s << "<h3>" << esc(name) << "</h3><div class=\"row\">" << chart(name + ": cross-entropy", ce, "step", "nats", false)
      << chart(name + ": sparsity of the sampled mask", sparsity, "step", "sparsity", false)
      << chart(name + ": Gumbel temperature", tau, "step", "tau", false) << "</div>";
  }
  s << "</section>";
  return s.str();
}

std::string short_layer(const std::string& name) {
  std::smatch m;
  if (std::regex_search(name, m, std::regex(R"(layers\.([0-9]+)\..*\.([a-z]+)_proj)"))) return m[1].str() + " " + m[2].str();
  return name;
}

// The CSS class of a tile kind: k0 dense, k1 2:4, k2 other.
int tile_class(const LayerMask& m, std::int64_t r0, std::int64_t c0, const TileShape& tile) {
  return static_cast<int>(classify_tile(&m.keep[r0 * m.cols + c0], m.cols, tile));
}

std::string mask_section(const std::string& title, const MaskSet& masks, const TileShape& tile, int* maps) {
  std::ostringstream s;
  s << "<section class=\"mask\"><h2>Mask " << esc(title) << "</h2><p>global sparsity <b>"
    << num(global_sparsity(masks)) << "</b>";
  for (const char* key : {"method", "pattern", "mode"})
    if (masks.metadata.count(key)) s << " · " << key << " " << esc(masks.metadata.at(key));
  s << " · " << masks.layers.size() << " layers</p>";
  // Per-layer sparsity bars, in model order (by block, then projection).
  std::vector<std::pair<std::string, const LayerMask*>> layers;
  for (const auto& [name, m] : masks.layers) layers.emplace_back(name, &m);
  auto block = [](const std::string& n) {
    std::smatch m;
    return std::regex_search(n, m, std::regex(R"(layers\.([0-9]+)\.)")) ? std::stoi(m[1].str()) : -1;
  };
  std::stable_sort(layers.begin(), layers.end(), [&](auto& a, auto& b) { return block(a.first) < block(b.first); });
  const double bw = std::max(2.0, std::min(14.0, 900.0 / static_cast<double>(layers.size())));
  const double width = std::max(bw * static_cast<double>(layers.size()) + 60, 40.0 + 70 * 7), height = 180;
  s << "<svg class=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
    << "\"><title>per-layer sparsity</title>";
  for (int i = 0; i <= 2; ++i) {
    double y = 150 - 260 * 0.25 * i;
    s << "<line x1=\"40\" x2=\"" << width << "\" y1=\"" << y << "\" y2=\"" << y << "\" class=\"grid\"/><text x=\"36\" y=\""
      << y + 4 << "\" class=\"tick\" text-anchor=\"end\">" << 0.25 * i << "</text>";
  }
  std::map<std::string, int> kind_color;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    std::string proj = short_layer(layers[i].first);
    proj = proj.substr(proj.find(' ') + 1);
    int color = kind_color.emplace(proj, static_cast<int>(kind_color.size())).first->second;
    double sp = layers[i].second->sparsity(), h = 260 * sp;
    s << "<rect class=\"bar\" x=\"" << 40 + bw * static_cast<double>(i) << "\" y=\"" << 150 - h << "\" width=\""
      << bw * 0.85 << "\" height=\"" << h << "\" fill=\"" << kPalette[color % 8] << "\"><title>"
      << esc(layers[i].first) << ": " << num(sp) << "</title></rect>";
  }
  double lx = 40;
  for (const auto& [proj, color] : kind_color) {
    s << "<rect x=\"" << lx << "\" y=\"162\" width=\"10\" height=\"10\" fill=\"" << kPalette[color % 8]
      << "\"/><text x=\"" << lx + 13 << "\" y=\"171\" class=\"legend\">" << esc(proj) << "</text>";
    lx += 70;
  }
  s << "</svg>";
  // Tile maps.
  s << "<h3>Tile maps (" << tile.name() << " tiles: <span class=\"k0\">■</span> dense <span class=\"k1\">■</span> 2:4 "
    << "<span class=\"k2\">■</span> other)</h3><div class=\"maps\">";
  int skipped = 0;
  for (const auto& [name, m] : layers) {
    if (!tiles_divide(m->rows, m->cols, tile)) {
      ++skipped;
      continue;
    }
    const std::int64_t tr = m->rows / tile.rows, tc = m->cols / tile.cols;
    const double cell = std::clamp(96.0 / static_cast<double>(std::max(tr, tc)), 2.0, 12.0);
    s << "<figure class=\"tilemap\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << cell * tc << "\" height=\""
      << cell * tr << "\"><title>" << esc(name) << "</title>";
    for (std::int64_t r = 0; r < tr; ++r)
      for (std::int64_t c = 0; c < tc; ++c)
        s << "<rect class=\"k" << tile_class(*m, r * tile.rows, c * tile.cols, tile) << "\" x=\"" << cell * c
          << "\" y=\"" << cell * r << "\" width=\"" << cell << "\" height=\"" << cell << "\"/>";
    s << "</svg><figcaption>" << esc(short_layer(name)) << "</figcaption></figure>";
    ++*maps;
  }
  s << "</div>";
  if (skipped) s << "<p class=\"note\">" << skipped << " layers are not divided by " << tile.name() << " tiles.</p>";
  s << "</section>";
  return s.str();
}

const char* kStyle = R"(<style>
body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}
h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
.row{display:flex;flex-wrap:wrap;gap:8px}.maps{display:flex;flex-wrap:wrap;gap:6px}
figure.tilemap{margin:0;text-align:center}figcaption{font-size:10px;color:#555}
.grid{stroke:#e4e4e4}.ref{stroke:#444;stroke-dasharray:5 4}.tick{font-size:10px;fill:#555;text-anchor:middle}
.axis{font-size:12px;text-anchor:middle}.legend{font-size:11px}.ct{font-size:13px;font-weight:bold}
.k0{fill:#1f77b4;color:#1f77b4}.k1{fill:#ff7f0e;color:#ff7f0e}.k2{fill:#b0b0b0;color:#b0b0b0}.note{color:#777}
</style>)";

}  // namespace

std::string render_report(const fs::path& run_dir, const TileShape& tile, ReportContents* contents) {
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) throw Error(str_cat(in_quotes(run_dir.string()), " is not a run directory"));
  ReportContents found;
  std::vector<nlohmann::json> results;
  if (fs::exists(run_dir / "results.jsonl")) results = read_jsonl(run_dir / "results.jsonl");
  std::vector<fs::path> entries;
  for (const auto& e : fs::directory_iterator(run_dir)) entries.push_back(e.path());
  std::sort(entries.begin(), entries.end());
  std::vector<std::pair<std::string, std::vector<nlohmann::json>>> curves;
  std::vector<fs::path> mask_files;
  for (const fs::path& p : entries) {
    if (fs::is_directory(p) && fs::exists(p / "metrics.jsonl")) curves.emplace_back(p.filename().string(), read_jsonl(p / "metrics.jsonl"));
    if (p.filename() == "metrics.jsonl") curves.emplace_back(run_dir.filename().string(), read_jsonl(p));
    if (fs::is_regular_file(p) && p.extension() == ".safetensors" && is_mask_file(p)) mask_files.push_back(p);
  }
  found.results = static_cast<int>(results.size());
  found.curves = static_cast<int>(curves.size());
  found.masks = static_cast<int>(mask_files.size());
  if (results.empty() && curves.empty() && mask_files.empty())
    throw Error(str_cat(in_quotes(run_dir.string()),
                        " holds no results.jsonl, no learning metrics and no mask files: nothing to report"));
  std::ostringstream html;
  html << "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>patchlm report: " << esc(run_dir.filename().string())
       << "</title>" << kStyle << "</head><body><h1>patchlm report: " << esc(run_dir.string()) << "</h1><p>"
       << found.results << " results, " << found.curves << " learning runs, " << found.masks << " mask files.</p>";
  if (!results.empty()) html << tradeoff_section(results);
  if (!curves.empty()) html << curves_section(curves);
  for (const fs::path& p : mask_files) html << mask_section(p.filename().string(), read_mask_file(p), tile, &found.tile_maps);
  if (found.masks > 0 && found.tile_maps == 0)
    throw UsageError(str_cat("--tile-size: ", tile.name(), " divides no layer of the ", found.masks,
                             " mask file(s), so no tile map could be drawn (e.g. 64x64 divides SmolLM2's layers)"));
  html << "</body></html>\n";
  if (contents) *contents = found;
  return html.str();
}

}  // namespace patchlm
