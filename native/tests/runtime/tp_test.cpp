// Tensor parallelism through the public C API, every rank a thread of this process with its own
// TCP connections: TP=2 (KV heads split) and TP=4 (KV heads replicated) against TP=1 on the tiny
// fixture, plus the option, divisibility and rendezvous errors.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <future>
#include <thread>

#include "dist/comm.h"
#include "model/cohere2.h"
#include "runtime/engine_test_util.h"
#include "runtime/group_test_util.h"

namespace tandem::test {
namespace {

// A group of `world` ranks: followers on threads, rank 0's engine on the caller's thread.
class Group {
 public:
  Group(int world, tandem_engine_options base = {}) : dir_(tiny_dir()), addr_("127.0.0.1:" + std::to_string(free_port())) {
    base.model_dir = dir_.c_str();
    base.world_size = uint32_t(world);
    base.leader_addr = addr_.c_str();
    base.threads = 1;
    base.rendezvous_timeout_ms = 10000;
    for (int r = 1; r < world; r++) {
      tandem_engine_options f = base;
      f.rank = uint32_t(r);
      followers_.push_back(std::async(std::launch::async, [f] {
        const tandem_status s = tandem_engine_run_follower(&f, nullptr, nullptr);
        return s == TANDEM_STATUS_OK ? std::string() : last_error();
      }));
    }
    status_ = tandem_engine_create(&base, nullptr, nullptr, &engine);
    if (status_ != TANDEM_STATUS_OK) error_ = last_error();
  }
  // Frees rank 0 and returns the followers' errors ("" each when they shut down cleanly).
  std::vector<std::string> close() {
    if (engine) tandem_engine_free(engine);
    engine = nullptr;
    std::vector<std::string> errs;
    for (auto& f : followers_) errs.push_back(f.get());
    followers_.clear();
    return errs;
  }
  ~Group() { close(); }

  tandem_engine* engine = nullptr;
  tandem_status status_;
  std::string error_;

 private:
  std::string dir_, addr_;
  std::vector<std::future<std::string>> followers_;
};

std::vector<float> logits(tandem_engine* e, const std::vector<int32_t>& prompt, bool all) {
  tandem_model_info info{};
  tandem_engine_get_info(e, &info);
  std::vector<float> out((all ? prompt.size() : 1) * info.vocab_size);
  EXPECT_EQ(tandem_engine_logits(e, prompt.data(), uint32_t(prompt.size()), all, out.data(), out.size()), TANDEM_STATUS_OK)
      << last_error();
  return out;
}

std::vector<int32_t> greedy(tandem_engine* e, Collector& col, const std::vector<int32_t>& prompt, uint32_t n) {
  const tandem_request_params p = greedy_params(prompt, n);
  uint64_t id = 0;
  EXPECT_EQ(tandem_engine_submit(e, &p, &Collector::on_event, &col, &id), TANDEM_STATUS_OK) << last_error();
  EXPECT_TRUE(col.wait_done(id, 60));
  EXPECT_EQ(col.get(id).finish, TANDEM_FINISH_LENGTH) << col.get(id).error;
  return col.get(id).tokens;
}

class TpEquivalence : public ::testing::TestWithParam<int> {};

TEST_P(TpEquivalence, LogitsAndGreedyTokensMatchTp1) {
  const auto g = golden();
  tandem_engine_options o{};
  o.max_batch_tokens = 7;  // chunked prefill across the window, as the TP=1 golden test does
  tandem_engine_options one = o;
  const std::string dir = tiny_dir();
  one.model_dir = dir.c_str();
  one.threads = 1;
  tandem_engine* ref = nullptr;
  ASSERT_EQ(tandem_engine_create(&one, nullptr, nullptr, &ref), TANDEM_STATUS_OK) << last_error();
  Group grp(GetParam(), o);
  ASSERT_EQ(grp.status_, TANDEM_STATUS_OK) << grp.error_;
  tandem_model_info info{};
  tandem_engine_get_info(grp.engine, &info);
  EXPECT_EQ(info.tp_world_size, uint32_t(GetParam()));

  Collector c1, c2;
  for (size_t i = 0; i < 3; i++) {
    const std::vector<int32_t> prompt = g["prompts"][i].get<std::vector<int32_t>>();
    const std::vector<float> a = logits(ref, prompt, true), b = logits(grp.engine, prompt, true);
    ASSERT_EQ(a.size(), b.size());
    float worst = 0;
    for (size_t j = 0; j < a.size(); j++) worst = std::max(worst, std::fabs(a[j] - b[j]));
    EXPECT_LT(worst, 1e-4f) << "prompt " << i;
    const std::vector<int32_t> want = g["cases"][i]["greedy"]["new_tokens"].get<std::vector<int32_t>>();
    EXPECT_EQ(greedy(grp.engine, c2, prompt, uint32_t(want.size())), want) << "prompt " << i;
    EXPECT_EQ(greedy(ref, c1, prompt, uint32_t(want.size())), want);
  }
  tandem_engine_stats s{};
  tandem_engine_get_stats(grp.engine, &s);
  EXPECT_GT(s.collective_ops, 0u);
  EXPECT_GT(s.collective_bytes, 0u);
  tandem_engine_free(ref);
  for (const std::string& e : grp.close()) EXPECT_EQ(e, "");
}

// Sampled requests through the vocab-parallel head: top-k sampling and greedy take the candidate
// path (each rank sends its best tokens), penalties and top-p without top-k gather whole rows; all
// must give TP=1's tokens, and logprobs within float rounding of TP=1's.
TEST_P(TpEquivalence, SampledTokensAndLogprobsMatchTp1) {
  const std::vector<int32_t> prompt = golden()["prompts"][1].get<std::vector<int32_t>>();
  std::vector<tandem_request_params> cases;
  for (int i = 0; i < 6; i++) {
    tandem_request_params p = greedy_params(prompt, 12);
    p.sampling.seed = 1000 + uint64_t(i);
    p.sampling.has_seed = 1;
    p.sampling.top_logprobs = uint32_t(i % 3) * 2;
    if (i == 1) p.sampling.temperature = 0.9f, p.sampling.top_k = 5;                         // candidates
    if (i == 2) p.sampling.temperature = 1.3f, p.sampling.top_k = 40, p.sampling.top_p = 0.8f;  // candidates
    if (i == 3) p.sampling.temperature = 0.7f, p.sampling.top_p = 0.9f;                       // whole rows
    if (i == 4) p.sampling.repetition_penalty = 1.3f;                                         // whole rows
    if (i == 5) p.sampling.temperature = 1.f, p.sampling.top_k = 3, p.sampling.min_p = 0.2f;  // candidates
    cases.push_back(p);
  }
  auto run = [&](tandem_engine* e) {
    Collector col;
    std::vector<uint64_t> ids(cases.size());
    for (size_t i = 0; i < cases.size(); i++)
      EXPECT_EQ(tandem_engine_submit(e, &cases[i], &Collector::on_event, &col, &ids[i]), TANDEM_STATUS_OK) << last_error();
    std::vector<Result> out;
    for (uint64_t id : ids) {
      EXPECT_TRUE(col.wait_done(id, 60));
      out.push_back(col.get(id));
    }
    return out;
  };
  const std::string dir = tiny_dir();
  tandem_engine_options one{};
  one.model_dir = dir.c_str();
  one.threads = 1;
  tandem_engine* ref = nullptr;
  ASSERT_EQ(tandem_engine_create(&one, nullptr, nullptr, &ref), TANDEM_STATUS_OK) << last_error();
  const auto want = run(ref);
  tandem_engine_free(ref);
  Group grp(GetParam());
  ASSERT_EQ(grp.status_, TANDEM_STATUS_OK) << grp.error_;
  const auto got = run(grp.engine);
  for (size_t i = 0; i < cases.size(); i++) {
    EXPECT_EQ(got[i].finish, TANDEM_FINISH_LENGTH) << got[i].error;
    EXPECT_EQ(got[i].tokens, want[i].tokens) << "case " << i;
    ASSERT_EQ(got[i].logprobs.size(), want[i].logprobs.size());
    for (size_t t = 0; t < got[i].logprobs.size(); t++) EXPECT_NEAR(got[i].logprobs[t], want[i].logprobs[t], 1e-4) << "case " << i;
    EXPECT_EQ(got[i].top_ids, want[i].top_ids) << "case " << i;
  }
  for (const std::string& e : grp.close()) EXPECT_EQ(e, "");
}

// 2: KV heads split (1 each); 4: the 2 KV heads replicated over 4 ranks.
INSTANTIATE_TEST_SUITE_P(World, TpEquivalence, ::testing::Values(2, 4));

TEST(Tp, RendezvousWithAMissingRankFailsInTimeNamingIt) {
  const std::string dir = tiny_dir(), addr = "127.0.0.1:" + std::to_string(free_port());
  tandem_engine_options o{};
  o.model_dir = dir.c_str();
  o.world_size = 2;
  o.leader_addr = addr.c_str();
  o.rendezvous_timeout_ms = 500;
  tandem_engine* e = nullptr;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(tandem_engine_create(&o, nullptr, nullptr, &e), TANDEM_STATUS_UNAVAILABLE);
  EXPECT_NE(last_error().find("rank 1 of 2 did not join " + addr + " within 500 ms"), std::string::npos) << last_error();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
  EXPECT_EQ(e, nullptr);
}

TEST(Tp, BadOptionsAndShapesAreNamed) {
  const std::string dir = tiny_dir();
  tandem_engine_options o{};
  o.model_dir = dir.c_str();
  o.world_size = 2;
  tandem_engine* e = nullptr;
  EXPECT_EQ(tandem_engine_create(&o, nullptr, nullptr, &e), TANDEM_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("leader_addr: required"), std::string::npos) << last_error();
  o.leader_addr = "127.0.0.1:1";
  o.rank = 1;
  EXPECT_EQ(tandem_engine_create(&o, nullptr, nullptr, &e), TANDEM_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("tandem_engine_run_follower"), std::string::npos) << last_error();
  o.rank = 0;
  o.world_size = 3;  // 4 heads, 2 KV heads, intermediate 160: nothing divides by 3
  EXPECT_EQ(tandem_engine_create(&o, nullptr, nullptr, &e), TANDEM_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("num_attention_heads 4 is not divisible by 3"), std::string::npos) << last_error();
  o.world_size = 2;
  o.rank = 0;
  EXPECT_EQ(tandem_engine_run_follower(&o, nullptr, nullptr), TANDEM_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("rank: 0 is not a follower rank"), std::string::npos) << last_error();
  o.leader_addr = "nonsense";
  o.rank = 1;
  EXPECT_EQ(tandem_engine_run_follower(&o, nullptr, nullptr), TANDEM_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(last_error().find("leader_addr: \"nonsense\" is not host:port"), std::string::npos) << last_error();
}

TEST(Tp, FollowerLeavesWhenRankZeroGoesSilent) {
  // A bare rank 0 that accepts the handshake and then never sends anything: the follower gives
  // up within its timeout instead of waiting forever.
  const std::string dir = tiny_dir(), addr = "127.0.0.1:" + std::to_string(free_port());
  tandem_engine_options o{};
  o.model_dir = dir.c_str();
  o.world_size = 2;
  o.rank = 1;
  o.leader_addr = addr.c_str();
  o.collective_timeout_ms = 300;
  o.rendezvous_timeout_ms = 500;  // also the wait for rank 0's first message
  auto follower = std::async(std::launch::async, [o] {
    const tandem_status s = tandem_engine_run_follower(&o, nullptr, nullptr);
    return std::make_pair(s, last_error());
  });
  // rank 0 side: the engine would send Init at once, so emulate a stalled one with a raw socket.
  const int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(uint16_t(std::stoi(addr.substr(addr.rfind(':') + 1))));
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ::listen(lfd, 4);
  const int fd = ::accept(lfd, nullptr, nullptr);
  char hello[24];
  ASSERT_EQ(::recv(fd, hello, sizeof hello, MSG_WAITALL), 24);
  const uint32_t ok = 0;
  ::send(fd, &ok, 4, 0);
  const auto t0 = std::chrono::steady_clock::now();
  const auto [status, error] = follower.get();  // Init never comes
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
  EXPECT_EQ(status, TANDEM_STATUS_UNAVAILABLE) << error;
  EXPECT_NE(error.find("stalled"), std::string::npos) << error;
  ::close(fd);
  ::close(lfd);
}

TEST(Tp, IdleRankZeroNoticesADeadFollowerAndRefusesWork) {
  const std::string dir = tiny_dir(), addr = "127.0.0.1:" + std::to_string(free_port());
  // A follower that joins, takes the pool geometry, and then dies (its connection closes).
  auto follower = std::async(std::launch::async, [&] {
    auto model = Cohere2Model::load(dir, nullptr, nullptr, TpShard{1, 2});
    dist::GroupOptions go;
    go.rank = 1;
    go.world_size = 2;
    go.leader_addr = addr;
    go.fingerprint = model->fingerprint();
    auto comm = dist::connect_group(go);
    std::vector<uint8_t> init;
    comm->broadcast_message(init);
  });
  tandem_engine_options o{};
  o.model_dir = dir.c_str();
  o.world_size = 2;
  o.leader_addr = addr.c_str();
  o.threads = 1;
  tandem_engine* e = nullptr;
  ASSERT_EQ(tandem_engine_create(&o, nullptr, nullptr, &e), TANDEM_STATUS_OK) << last_error();
  follower.get();
  const auto t0 = std::chrono::steady_clock::now();
  tandem_engine_stats s{};
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5)) {
    tandem_engine_get_stats(e, &s);
    if (s.tp_group_failed) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(s.tp_group_failed, 1u);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.5);  // one heartbeat
  const std::vector<int32_t> prompt = {5, 6, 7};
  Collector col;
  const tandem_request_params p = greedy_params(prompt, 4);
  uint64_t id = 0;
  EXPECT_EQ(tandem_engine_submit(e, &p, &Collector::on_event, &col, &id), TANDEM_STATUS_UNAVAILABLE);
  EXPECT_NE(last_error().find("tensor-parallel group failed: "), std::string::npos) << last_error();
  std::vector<float> out(384);
  EXPECT_EQ(tandem_engine_logits(e, prompt.data(), 3, 0, out.data(), out.size()), TANDEM_STATUS_UNAVAILABLE);
  tandem_engine_free(e);
}

}  // namespace
}  // namespace tandem::test
