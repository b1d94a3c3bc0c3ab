#include "dbsnap/pipeline/zstd.hpp"

#include <utility>
#include <vector>

#include <zstd.h>

namespace dbsnap::pipeline {

namespace {

// Turns a zstd size_t return code into an Expected.
Expected<std::size_t> check(std::size_t code, const char* what) {
  if (ZSTD_isError(code)) {
    return make_error(ErrorKind::failure, "zstd {} failed: {}", what, ZSTD_getErrorName(code));
  }
  return code;
}

Error corrupt(std::string message) { return Error{ErrorKind::corrupt, std::move(message)}; }

}  // namespace

int zstd_min_level() { return 1; }
// zstd's "ultra" levels 20-22 need windows of 32-128 MiB; dbsnap stays within
// its 64 MB budget, so 19 is the top everywhere (--level, the `level` key).
int zstd_max_level() { return 19; }

struct CompressingSink::State {
  ZSTD_CCtx* ctx = nullptr;
  std::vector<std::byte> out = std::vector<std::byte>(ZSTD_CStreamOutSize());
  ~State() { ZSTD_freeCCtx(ctx); }
};

CompressingSink::CompressingSink(std::unique_ptr<State> state, Sink& next)
    : state_(std::move(state)), next_(next) {}
CompressingSink::~CompressingSink() = default;

Expected<std::unique_ptr<CompressingSink>> CompressingSink::create(Sink& next, ZstdOptions options) {
  auto state = std::make_unique<State>();
  state->ctx = ZSTD_createCCtx();
  if (state->ctx == nullptr) return make_error(ErrorKind::failure, "zstd: cannot allocate a compression context");
  if (auto r = check(ZSTD_CCtx_setParameter(state->ctx, ZSTD_c_compressionLevel, options.level), "set level"); !r) {
    return std::unexpected(r.error());
  }
  // zstd's defaults for levels 10-19 give each worker a 4-8 MiB window, a
  // 16-64 MiB chain table and a 16-32 MiB hash table. Capped (window 4 MiB,
  // chain 8 MiB, hash 4 MiB), two workers stay within dbsnap's 64 MB budget:
  // measured on a 30 MB SQLite file, a level-19 backup peaked at 60 MB RSS
  // (`zstd -19 -T2` uncapped: 121 MB) and its output was no larger (5.45 MB;
  // uncapped zstd 5.51 MB). Levels 1-9 are left as they are.
  if (options.level >= 10) {
    const std::pair<ZSTD_cParameter, int> caps[] = {
        {ZSTD_c_windowLog, 22}, {ZSTD_c_chainLog, 21}, {ZSTD_c_hashLog, 20}};
    for (const auto& [parameter, value] : caps) {
      if (auto r = check(ZSTD_CCtx_setParameter(state->ctx, parameter, value), "cap memory"); !r) {
        return std::unexpected(r.error());
      }
    }
  }
  if (auto r = check(ZSTD_CCtx_setParameter(state->ctx, ZSTD_c_checksumFlag, 1), "set checksum"); !r) {
    return std::unexpected(r.error());
  }
  if (options.workers > 0) {
    // Older or single-threaded libzstd builds refuse workers; compress in one thread then.
    if (!ZSTD_isError(ZSTD_CCtx_setParameter(state->ctx, ZSTD_c_nbWorkers, options.workers))) {
      (void)ZSTD_CCtx_setParameter(state->ctx, ZSTD_c_jobSize, options.job_size);
    }
  }
  return std::unique_ptr<CompressingSink>(new CompressingSink(std::move(state), next));
}

Expected<void> CompressingSink::write(Bytes data) {
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  while (in.pos < in.size) {
    ZSTD_outBuffer out{state_->out.data(), state_->out.size(), 0};
    if (auto r = check(ZSTD_compressStream2(state_->ctx, &out, &in, ZSTD_e_continue), "compress"); !r) {
      return std::unexpected(r.error());
    }
    if (out.pos > 0) {
      if (auto r = next_.write(Bytes(state_->out.data(), out.pos)); !r) return r;
    }
  }
  return {};
}

Expected<void> CompressingSink::finish() {
  ZSTD_inBuffer in{nullptr, 0, 0};
  for (;;) {
    ZSTD_outBuffer out{state_->out.data(), state_->out.size(), 0};
    auto remaining = check(ZSTD_compressStream2(state_->ctx, &out, &in, ZSTD_e_end), "finish frame");
    if (!remaining) return std::unexpected(remaining.error());
    if (out.pos > 0) {
      if (auto r = next_.write(Bytes(state_->out.data(), out.pos)); !r) return r;
    }
    if (*remaining == 0) break;
  }
  return next_.finish();
}

struct DecompressingSink::State {
  ZSTD_DCtx* ctx = nullptr;
  std::vector<std::byte> out = std::vector<std::byte>(ZSTD_DStreamOutSize());
  std::size_t pending_hint = 0;  // non-zero while inside a frame
  bool saw_input = false;
  ~State() { ZSTD_freeDCtx(ctx); }
};

DecompressingSink::DecompressingSink(std::unique_ptr<State> state, Sink& next)
    : state_(std::move(state)), next_(next) {}
DecompressingSink::~DecompressingSink() = default;

Expected<std::unique_ptr<DecompressingSink>> DecompressingSink::create(Sink& next) {
  auto state = std::make_unique<State>();
  state->ctx = ZSTD_createDCtx();
  if (state->ctx == nullptr) return make_error(ErrorKind::failure, "zstd: cannot allocate a decompression context");
  return std::unique_ptr<DecompressingSink>(new DecompressingSink(std::move(state), next));
}

Expected<void> DecompressingSink::write(Bytes data) {
  if (!data.empty()) state_->saw_input = true;
  ZSTD_inBuffer in{data.data(), data.size(), 0};
  // Until all input is consumed and zstd returns less than a full buffer
  // (a full one may mean it holds more output for input already consumed).
  for (;;) {
    ZSTD_outBuffer out{state_->out.data(), state_->out.size(), 0};
    const std::size_t consumed_before = in.pos;
    std::size_t hint = ZSTD_decompressStream(state_->ctx, &out, &in);
    if (ZSTD_isError(hint)) {
      return std::unexpected(corrupt(fmt::format("zstd data is corrupt: {}", ZSTD_getErrorName(hint))));
    }
    // A call that made no progress (a flush after a frame ended exactly at a
    // buffer boundary) says nothing about the frame we have been reading.
    if (out.pos == 0 && in.pos == consumed_before) break;
    state_->pending_hint = hint;
    if (out.pos > 0) {
      if (auto r = next_.write(Bytes(state_->out.data(), out.pos)); !r) return r;
    }
    if (in.pos == in.size && out.pos < out.size) break;
  }
  return {};
}

Expected<void> DecompressingSink::finish() {
  if (!state_->saw_input) return std::unexpected(corrupt("zstd data is empty"));
  if (state_->pending_hint != 0) return std::unexpected(corrupt("zstd data is truncated (the frame does not end)"));
  return next_.finish();
}

struct FrameCompressor::State {
  ZSTD_CCtx* ctx = nullptr;
  std::vector<std::byte> out;
  ~State() { ZSTD_freeCCtx(ctx); }
};

FrameCompressor::FrameCompressor(std::unique_ptr<State> state) : state_(std::move(state)) {}
FrameCompressor::FrameCompressor(FrameCompressor&&) noexcept = default;
FrameCompressor& FrameCompressor::operator=(FrameCompressor&&) noexcept = default;
FrameCompressor::~FrameCompressor() = default;

Expected<FrameCompressor> FrameCompressor::create(int level) {
  auto state = std::make_unique<State>();
  state->ctx = ZSTD_createCCtx();
  if (state->ctx == nullptr) return make_error(ErrorKind::failure, "zstd: cannot allocate a compression context");
  for (auto [param, value] : {std::pair{ZSTD_c_compressionLevel, level}, std::pair{ZSTD_c_checksumFlag, 1},
                              std::pair{ZSTD_c_contentSizeFlag, 1}}) {
    if (auto r = check(ZSTD_CCtx_setParameter(state->ctx, param, value), "set parameter"); !r) {
      return std::unexpected(r.error());
    }
  }
  return FrameCompressor(std::move(state));
}

Expected<Bytes> FrameCompressor::compress(Bytes data) {
  state_->out.resize(ZSTD_compressBound(data.size()));
  auto n = check(ZSTD_compress2(state_->ctx, state_->out.data(), state_->out.size(), data.data(), data.size()),
                 "compress");
  if (!n) return std::unexpected(n.error());
  return Bytes(state_->out.data(), *n);
}

Expected<void> decompress_frame(Bytes frame, std::size_t expected_size, std::vector<std::byte>& out) {
  if (ZSTD_findFrameCompressedSize(frame.data(), frame.size()) != frame.size()) {
    return std::unexpected(corrupt("not one whole zstd frame"));
  }
  const unsigned long long content = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (content != expected_size) {
    return std::unexpected(corrupt(fmt::format("zstd frame holds {} bytes, {} expected", content, expected_size)));
  }
  out.resize(expected_size);
  const std::size_t n = ZSTD_decompress(out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(n)) return std::unexpected(corrupt(fmt::format("zstd frame: {}", ZSTD_getErrorName(n))));
  if (n != expected_size) return std::unexpected(corrupt("zstd frame ends early"));
  return {};
}

}  // namespace dbsnap::pipeline
