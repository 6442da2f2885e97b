// Fault injection: the pending faults, the error answers they give, bodies cut or slowed
// in flight, and the row variants (PascalCase keys, unknown members) of the export faults.

#include "simulator_impl.hpp"

#include <cctype>

namespace mdesim {

std::string to_pascal(std::string line) {
  // Upper-cases the first letter of every member name (keys are the strings followed by ':').
  bool in_str = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_str) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_str = false;
        if (i + 1 < line.size() && line[i + 1] == ':' && start + 1 < line.size()) {
          line[start + 1] =
              static_cast<char>(std::toupper(static_cast<unsigned char>(line[start + 1])));
        }
      }
    } else if (c == '"') {
      in_str = true;
      start = i;
    }
  }
  return line;
}

void add_extra_member(std::string& line) {
  if (!line.empty() && line.back() == '}') {
    line.pop_back();
    line += ",\"simUnknownColumn\":\"extra\",\"simUnknownNumber\":42}";
  }
}

void SimulatorImpl::add_faults(const Faults& f) {
  std::lock_guard lock(m_mutex);
  for (const auto& e : f.errors) m_faults.errors.push_back(e);
  if (f.reset_connection > 0) {
    m_faults.reset_endpoint = f.reset_endpoint;
    m_faults.reset_after_bytes = f.reset_after_bytes;
  }
  if (f.looping_next_link > 0) m_faults.looping_endpoint = f.looping_endpoint;
  if (f.slow_body > 0) {
    m_faults.slow_endpoint = f.slow_endpoint;
    m_faults.slow_delay_ms = f.slow_delay_ms;
  }
  if (f.hold_body > 0) m_faults.hold_endpoint = f.hold_endpoint;
  m_faults.hold_body += f.hold_body;
  m_faults.reset_connection += f.reset_connection;
  m_faults.slow_body += f.slow_body;
  if (f.expire_tokens) ++m_token_generation;
  m_faults.expired_sas += f.expired_sas;
  m_faults.truncated_gzip += f.truncated_gzip;
  m_faults.malformed_json_line += f.malformed_json_line;
  m_faults.empty_export_file += f.empty_export_file;
  m_faults.duplicate_rows += f.duplicate_rows;
  m_faults.stray_row += f.stray_row;
  m_faults.looping_next_link += f.looping_next_link;
  m_faults.extra_fields += f.extra_fields;
  m_faults.pascal_case_keys += f.pascal_case_keys;
  m_faults.machine_not_found += f.machine_not_found;
}

void SimulatorImpl::clear_faults() {
  {
    std::lock_guard lock(m_mutex);
    m_faults = Faults{};
  }
  std::lock_guard slow(m_slow_mutex);
  ++m_hold_release;
  m_slow_cv.notify_all();
}

std::uint64_t SimulatorImpl::held_bodies() const {
  std::lock_guard lock(m_slow_mutex);
  return m_held;
}

Faults SimulatorImpl::pending_faults() const {
  std::lock_guard lock(m_mutex);
  return m_faults;
}

std::optional<Reply> SimulatorImpl::take_error_fault(const std::string& name) {
  std::lock_guard lock(m_mutex);
  for (auto it = m_faults.errors.begin(); it != m_faults.errors.end(); ++it) {
    const bool identity = name.rfind("identity.", 0) == 0;
    const bool api_name =
        name != "token.v1" && name != "token.v2" && name != "download" && !identity;
    const bool match = it->endpoint == name || (it->endpoint == "*" && api_name) ||
                       (it->endpoint == "token" && !api_name && name != "download" && !identity) ||
                       (it->endpoint == "identity" && identity);
    if (!match) continue;
    const ErrorFault f = *it;
    if (--it->count == 0) m_faults.errors.erase(it);
    Reply r;
    if (identity) {
      r.status = f.status;
      r.text = json{{"error", f.status == 429 ? "too_many_requests" : "service_unavailable"},
                    {"error_description", "simulated identity endpoint fault"}}
                   .dump();
    } else if (name.rfind("token.", 0) == 0) {
      r.status = f.status;
      r.text = json{{"error", "temporarily_unavailable"},
                    {"error_description", "AADSTS90055: simulated fault"},
                    {"error_codes", {90055}}}
                   .dump();
    } else if (f.status == 429) {
      r = error_reply(429, "TooManyRequests", "Simulated throttling", next_target());
    } else if (f.status == 503) {
      r = error_reply(503, "ServiceUnavailable", "Simulated outage", next_target());
    } else if (f.status >= 500) {
      r = error_reply(f.status, "InternalServerError", "", next_target());
    } else {
      r = error_reply(f.status, f.status == 404 ? "NotFound" : "BadRequest", "Simulated error",
                      next_target());
    }
    if (f.status == 429 || f.status == 503)
      r.headers.emplace_back("Retry-After", std::to_string(f.retry_after_s));
    return r;
  }
  return std::nullopt;
}

bool SimulatorImpl::consume(std::uint32_t Faults::*field) {
  std::lock_guard lock(m_mutex);
  if (m_faults.*field == 0) return false;
  --(m_faults.*field);
  return true;
}

bool SimulatorImpl::consume_looping_next_link() {
  std::lock_guard lock(m_mutex);
  if (m_faults.looping_next_link == 0) return false;
  if (m_faults.looping_endpoint != "*" && m_faults.looping_endpoint != t_endpoint) return false;
  --m_faults.looping_next_link;
  return true;
}

void SimulatorImpl::apply_body_faults(const std::string& name, Reply& r) {
  bool reset = false;
  bool slow = false;
  bool hold = false;
  std::uint32_t after = 0;
  std::uint32_t delay = 0;
  {
    std::lock_guard lock(m_mutex);
    auto match = [&](const std::string& ep) { return ep == "*" || ep == name; };
    if (m_faults.reset_connection > 0 && match(m_faults.reset_endpoint)) {
      --m_faults.reset_connection;
      reset = true;
      after = m_faults.reset_after_bytes;
    }
    if (m_faults.slow_body > 0 && match(m_faults.slow_endpoint)) {
      --m_faults.slow_body;
      slow = true;
      delay = m_faults.slow_delay_ms;
    }
    if (m_faults.hold_body > 0 && match(m_faults.hold_endpoint)) {
      --m_faults.hold_body;
      hold = true;
    }
  }
  if (!reset && !slow && !hold) return;
  if (!r.next) {
    auto text = std::make_shared<std::string>(std::move(r.text));
    auto pos = std::make_shared<std::size_t>(0);
    r.length = text->size();
    r.next = [text, pos](std::string& chunk) {
      if (*pos >= text->size()) return false;
      const std::size_t n = std::min<std::size_t>(64 * 1024, text->size() - *pos);
      chunk.assign(*text, *pos, n);
      *pos += n;
      return true;
    };
  }
  auto inner = std::move(r.next);
  auto sent = std::make_shared<std::uint64_t>(0);
  auto pending = std::make_shared<std::string>();
  auto cut = std::make_shared<bool>(false);
  auto held = std::make_shared<bool>(false);
  r.next = [this, inner, sent, pending, cut, held, reset, slow, hold, after,
            delay](std::string& chunk) {
    // Once the first `after` bytes are out, the connection goes down: the next call
    // aborts the reply (router.cpp: no terminating chunk, fewer bytes than the
    // Content-Length, connection closed), even when the body had nothing more to send.
    // Ending the reply normally here would hand a chunked client a clean, shorter
    // document instead of a cut transfer.
    if (*cut) throw std::runtime_error("simulated connection reset");
    // A held body waits once: after its first piece (before its end, when it is empty).
    auto hold_once = [&] {
      if (!hold || *held) return;
      *held = true;
      hold_pause();
    };
    if (*sent > 0) hold_once();
    if (pending->empty() && !inner(*pending)) {
      hold_once();
      return false;
    }
    const bool small = slow || hold;
    const std::size_t piece =
        small ? std::min<std::size_t>(pending->size(), 1024) : pending->size();
    if (slow) slow_pause(std::chrono::milliseconds(delay));
    if (reset && *sent + piece >= after) {
      const std::size_t allowed = after > *sent ? static_cast<std::size_t>(after - *sent) : 0;
      if (allowed == 0) throw std::runtime_error("simulated connection reset");
      chunk.assign(*pending, 0, allowed);
      pending->clear();
      *sent = after;
      *cut = true;
      return true;
    }
    chunk.assign(*pending, 0, piece);
    pending->erase(0, piece);
    *sent += piece;
    return true;
  };
}

void SimulatorImpl::slow_pause(std::chrono::milliseconds delay) {
  std::unique_lock lock(m_slow_mutex);
  m_slow_cv.wait_for(lock, delay, [this] { return m_stopping; });
}

void SimulatorImpl::hold_pause() {
  std::unique_lock lock(m_slow_mutex);
  ++m_held;
  const std::uint64_t release = m_hold_release;
  m_slow_cv.wait(lock, [this, release] { return m_stopping || m_hold_release != release; });
}

}  // namespace mdesim
