#pragma once

// A TCP relay in front of the test S3 server, for fault injection: it forwards
// each connection to the server and back, and can answer the first N
// connections with "503 Slow Down" itself, or cut a connection's answer after
// some bytes. The server behind it stays real (it still checks signatures).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace dbsnap::test {

class Relay {
 public:
  struct Faults {
    int slow_down_first = 0;          // connections answered 503 without reaching the server
    int cut_connection = -1;          // this connection (0-based) is cut ...
    std::size_t cut_after_bytes = 0;  // ... after this many bytes of the server's answer
  };

  Relay(std::string upstream_host, int upstream_port, Faults faults)
      : host_(std::move(upstream_host)), port_(upstream_port), faults_(faults) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listener_, 16);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    listen_port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~Relay() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    thread_.join();
    for (auto& t : workers_) t.join();
    ::close(listener_);
  }
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  int port() const { return listen_port_; }
  int connections() const { return accepted_; }

 private:
  // Reads one request (head, and as many body bytes as its Content-Length says).
  static void read_request(int fd) {
    std::string text;
    char buf[65536];
    std::size_t need = std::string::npos;
    while (need == std::string::npos || text.size() < need) {
      ssize_t got = ::recv(fd, buf, sizeof buf, 0);
      if (got <= 0) return;
      text.append(buf, static_cast<std::size_t>(got));
      const auto end = text.find("\r\n\r\n");
      if (need == std::string::npos && end != std::string::npos) {
        std::size_t length = 0;
        std::string lower = text.substr(0, end);
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (auto at = lower.find("content-length:"); at != std::string::npos) {
          length = std::strtoull(lower.c_str() + at + 15, nullptr, 10);
        }
        need = end + 4 + length;
      }
    }
  }

  void serve() {
    while (!stop_) {
      int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) return;
      const int n = accepted_++;
      workers_.emplace_back([this, client, n] { relay(client, n); });
    }
  }

  void relay(int client, int n) {
    if (n < faults_.slow_down_first) {
      read_request(client);  // all of it: closing on unread bytes would reset the connection instead
      const char answer[] =
          "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: 60\r\nConnection: close\r\n\r\n"
          "<Error><Code>SlowDown</Code><Message>relay</Message></Error>";
      (void)::send(client, answer, sizeof answer - 1, MSG_NOSIGNAL);
      ::close(client);
      return;
    }
    int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    ::inet_pton(AF_INET, host_.c_str(), &a.sin_addr);
    if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(client);
      ::close(server);
      return;
    }
    std::size_t answered = 0;
    std::vector<char> buf(65536);
    for (;;) {
      pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (::poll(fds, 2, 200) < 0 || stop_) break;
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t got = ::recv(client, buf.data(), buf.size(), 0);
        if (got <= 0 || ::send(server, buf.data(), static_cast<std::size_t>(got), MSG_NOSIGNAL) < 0) break;
      }
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t got = ::recv(server, buf.data(), buf.size(), 0);
        if (got <= 0) break;
        std::size_t pass = static_cast<std::size_t>(got);
        const bool cutting = n == faults_.cut_connection;
        if (cutting && answered + pass > faults_.cut_after_bytes) pass = faults_.cut_after_bytes - answered;
        if (::send(client, buf.data(), pass, MSG_NOSIGNAL) < 0) break;
        answered += pass;
        if (cutting && answered >= faults_.cut_after_bytes) break;  // the connection drops mid-answer
      }
    }
    ::close(client);
    ::close(server);
  }

  std::string host_;
  int port_;
  Faults faults_;
  int listener_ = -1;
  int listen_port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
  std::vector<std::thread> workers_;
};

}  // namespace dbsnap::test
