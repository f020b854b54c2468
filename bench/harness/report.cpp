#include "harness/report.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace lifeline::bench {

double percentile(std::vector<float> values, double p) {
  if (values.empty()) return 0;
  auto i = std::min(values.size() - 1, size_t(p * double(values.size())));
  std::nth_element(values.begin(), values.begin() + long(i), values.end());
  return values[i];
}

namespace {

bool ok(const sample& s) { return s.status >= 200 && s.status < 300; }

bool is_fault(const std::string& a) {
  return a == "pg-kill" || a == "pg-pause" || a == "vectors-down";
}

uint8_t bit_of(const std::string& action) {
  return action.rfind("pg-", 0) == 0 ? served_postgres : served_vectors;
}

} // namespace

std::vector<second_row> per_second(const std::vector<sample>& samples,
                                   const std::vector<fault_event>& events, double seconds) {
  std::vector<second_row> rows(size_t(std::max(1.0, seconds + 0.999)));
  std::vector<std::vector<float>> lat(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].second = int(i);
    auto st = states_at(events, double(i) + 0.5);
    rows[i].postgres_down = st.postgres_down;
    rows[i].vectors_down = st.vectors_down;
  }
  for (auto& s : samples) {
    auto i = std::min(rows.size() - 1, size_t(std::max(0.f, s.done_s)));
    auto& r = rows[i];
    ++r.ops;
    lat[i].push_back(s.latency_ms);
    if (ok(s)) ++r.ok;
    else if (s.status == 503) ++r.unavailable;
    else if (s.status == 504) ++r.timeouts;
    else if (s.status >= 400 && s.status < 500) ++r.client_errors;
    else ++r.other_errors;
    if (ok(s) && (s.served & served_postgres)) ++r.by_postgres;
    if (ok(s) && (s.served & served_vectors)) ++r.by_vectors;
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].p50_ms = percentile(lat[i], 0.50);
    rows[i].p99_ms = percentile(lat[i], 0.99);
    rows[i].p999_ms = percentile(lat[i], 0.999);
  }
  return rows;
}

summary summarize(const std::vector<sample>& samples, const std::vector<applied_event>& applied,
                  double seconds) {
  summary s;
  s.ops = samples.size();
  s.seconds = seconds;
  s.throughput = double(s.ops) / seconds;
  std::vector<fault_event> events;
  for (auto& a : applied) events.push_back({a.applied_s, a.event.action});
  std::vector<float> all, steady, faulty, reads;
  for (auto& x : samples) {
    all.push_back(x.latency_ms);
    if (x.op == op_kind::get || x.op == op_kind::search) {
      reads.push_back(x.latency_ms);
      if (!ok(x)) ++s.read_errors;
    }
    auto st = states_at(events, x.sent_s);
    bool in_fault = st.postgres_down || st.vectors_down;
    (in_fault ? faulty : steady).push_back(x.latency_ms);
    if (!ok(x)) {
      ++s.errors;
      if (!(st.postgres_down && st.vectors_down)) ++s.errors_with_a_backend_up;
    }
  }
  s.p50_ms = percentile(all, 0.5);
  s.p99_ms = percentile(all, 0.99);
  s.p999_ms = percentile(all, 0.999);
  s.reads = reads.size();
  s.read_p99_ms = percentile(reads, 0.99);
  s.read_p999_ms = percentile(reads, 0.999);
  s.steady_p99_ms = percentile(steady, 0.99);
  s.fault_p99_ms = percentile(faulty, 0.99);
  for (auto& a : applied) {
    fault_cost c{a.event.action, a.applied_s, -1};
    auto bit = bit_of(a.event.action);
    // Earliest completion among requests sent after the event that show
    // the reaction: served by another backend (fault) or by this one again
    // as a read (recovery; reads go to a backend only once it is in sync).
    for (auto& x : samples) {
      if (x.sent_s < a.applied_s || !ok(x)) continue;
      bool read = x.op == op_kind::get || x.op == op_kind::search;
      bool reacted = is_fault(a.event.action)            ? (x.served != 0 && !(x.served & bit))
                     : a.event.action == "pg-promote" ? ((x.served & bit) && !read)
                                                        : ((x.served & bit) && read);
      if (reacted && (c.reaction_s < 0 || x.done_s - a.applied_s < c.reaction_s))
        c.reaction_s = x.done_s - a.applied_s;
    }
    s.faults.push_back(c);
  }
  return s;
}

std::string write_outputs(const std::string& dir, const std::string& title,
                          const std::vector<second_row>& rows,
                          const std::vector<applied_event>& applied, const summary& s) {
  {
    std::ofstream csv{dir + "/per_second.csv"};
    csv << "second,ops,p50_ms,p99_ms,p999_ms,ok,client_errors,unavailable_503,timeouts_504,"
           "other_errors,served_by_postgres,served_by_vectors,postgres_down,vectors_down\n";
    for (auto& r : rows)
      csv << r.second << ',' << r.ops << ',' << r.p50_ms << ',' << r.p99_ms << ',' << r.p999_ms
          << ',' << r.ok << ',' << r.client_errors << ',' << r.unavailable << ',' << r.timeouts
          << ',' << r.other_errors << ',' << r.by_postgres << ',' << r.by_vectors << ','
          << r.postgres_down << ',' << r.vectors_down << '\n';
    std::ofstream json{dir + "/per_second.json"};
    json << "[\n";
    for (size_t i = 0; i < rows.size(); ++i) {
      auto& r = rows[i];
      json << "  {\"second\":" << r.second << ",\"ops\":" << r.ops << ",\"p50_ms\":" << r.p50_ms
           << ",\"p99_ms\":" << r.p99_ms << ",\"p999_ms\":" << r.p999_ms << ",\"errors\":{\"4xx\":"
           << r.client_errors << ",\"503\":" << r.unavailable << ",\"504\":" << r.timeouts
           << ",\"other\":" << r.other_errors << "},\"served_by\":{\"postgres\":" << r.by_postgres
           << ",\"vectors\":" << r.by_vectors << "},\"postgres_down\":"
           << (r.postgres_down ? "true" : "false")
           << ",\"vectors_down\":" << (r.vectors_down ? "true" : "false") << "}"
           << (i + 1 < rows.size() ? ",\n" : "\n");
    }
    json << "]\n";
    std::ofstream ev{dir + "/events.csv"};
    ev << "due_s,applied_s,action,error\n";
    for (auto& a : applied)
      ev << a.event.at << ',' << a.applied_s << ',' << a.event.action << ",\"" << a.error << "\"\n";
  }
  std::ostringstream text;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s\n  %llu requests in %.0f s: %.0f/s, latency p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms\n",
                title.c_str(), (unsigned long long)s.ops, s.seconds, s.throughput, s.p50_ms, s.p99_ms,
                s.p999_ms);
  text << buf;
  std::snprintf(buf, sizeof buf, "  reads (get, search): %llu, p99 %.2f ms, p99.9 %.2f ms, %llu errors\n",
                (unsigned long long)s.reads, s.read_p99_ms, s.read_p999_ms,
                (unsigned long long)s.read_errors);
  text << buf;
  std::snprintf(buf, sizeof buf, "  errors: %llu in all, %llu while at least one backend was up (goal: 0)\n",
                (unsigned long long)s.errors, (unsigned long long)s.errors_with_a_backend_up);
  text << buf;
  if (!applied.empty()) {
    std::snprintf(buf, sizeof buf, "  p99 during faults %.2f ms vs steady state %.2f ms (%.2fx)\n",
                  s.fault_p99_ms, s.steady_p99_ms,
                  s.steady_p99_ms > 0 ? s.fault_p99_ms / s.steady_p99_ms : 0.0);
    text << buf;
  }
  for (auto& f : s.faults) {
    auto what = is_fault(f.event)         ? "first request served by another backend"
                : f.event == "pg-promote" ? "first write applied on PostgreSQL again"
                                          : "recovered backend serving reads again";
    if (f.reaction_s >= 0)
      std::snprintf(buf, sizeof buf, "  %6.1f s %-13s %s after %.3f s\n", f.at_s, f.event.c_str(), what,
                    f.reaction_s);
    else
      std::snprintf(buf, sizeof buf, "  %6.1f s %-13s %s: not seen in the run\n", f.at_s, f.event.c_str(),
                    what);
    text << buf;
  }
  for (auto& a : applied)
    if (!a.error.empty()) text << "  fault " << a.event.action << " failed: " << a.error << "\n";
  std::ofstream{dir + "/summary.txt"} << text.str();
  {
    std::ofstream j{dir + "/summary.json"};
    j << "{\"requests\":" << s.ops << ",\"seconds\":" << s.seconds << ",\"throughput\":" << s.throughput
      << ",\"p50_ms\":" << s.p50_ms << ",\"p99_ms\":" << s.p99_ms << ",\"p999_ms\":" << s.p999_ms << ",\"read_p99_ms\":" << s.read_p99_ms
      << ",\"read_p999_ms\":" << s.read_p999_ms << ",\"read_errors\":" << s.read_errors
      << ",\"errors\":" << s.errors << ",\"errors_with_a_backend_up\":" << s.errors_with_a_backend_up
      << ",\"steady_p99_ms\":" << s.steady_p99_ms << ",\"fault_p99_ms\":" << s.fault_p99_ms
      << ",\"events\":[";
    for (size_t i = 0; i < s.faults.size(); ++i)
      j << (i ? "," : "") << "{\"event\":\"" << s.faults[i].event << "\",\"at_s\":" << s.faults[i].at_s
        << ",\"reaction_s\":" << s.faults[i].reaction_s << "}";
    j << "]}\n";
  }
  // The plot: throughput and p99 over time, each fault a labelled line.
  {
    std::ofstream gp{dir + "/plot.gp"};
    gp << "set terminal pngcairo size 1200,600 noenhanced\nset output '" << dir << "/plot.png'\n"
       << "set datafile separator ','\nset title '" << title << "'\nset xlabel 'seconds'\n"
       << "set ylabel 'requests/s'\nset y2label 'p99 latency (ms, log)'\nset logscale y2\n"
       << "set ytics nomirror\nset y2tics\nset key top left\nset grid\n";
    int n = 0;
    for (auto& a : applied) {
      ++n;
      gp << "set arrow " << n << " from " << a.applied_s << ", graph 0 to " << a.applied_s
         << ", graph 1 nohead dt 2 lc rgb 'red'\nset label " << n << " '" << a.event.action << "' at "
         << a.applied_s << ", graph 0.97 rotate by 90 right tc rgb 'red' font ',9'\n";
    }
    gp << "plot '" << dir << "/per_second.csv' every ::1 using 1:2 with lines lw 2 title 'requests/s', \\\n"
       << "     '' every ::1 using 1:11 with lines title 'served by postgres/s', \\\n"
       << "     '' every ::1 using 1:12 with lines title 'served by vectors/s', \\\n"
       << "     '' every ::1 using 1:($8+$9+$10+$7) with impulses lw 3 title 'errors/s', \\\n"
       << "     '' every ::1 using 1:($4 > 0 ? $4 : 1/0) axes x1y2 with lines title 'p99 ms'\n";
  }
  auto cmd = "gnuplot '" + dir + "/plot.gp' 2>" + dir + "/gnuplot.log";
  if (std::system(cmd.c_str()) != 0) text << "  (no plot: gnuplot failed, see " << dir << "/gnuplot.log)\n";
  else text << "  plot: " << dir << "/plot.png\n";
  return text.str();
}

} // namespace lifeline::bench
