// Signing key persistence: creation with mode 0600, reuse, and refusal of bad key files.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "check.hpp"
#include "key_store.hpp"

namespace {

std::string make_temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/echo-cpp-test-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::abort();
  }
  return pattern;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::string& data, mode_t mode) {
  ::unlink(path.c_str());
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, mode);
  CHECK(fd >= 0);
  CHECK(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  CHECK(::fchmod(fd, mode) == 0);
  ::close(fd);
}

bool refuses(const std::string& state_dir) {
  try {
    cairn_echo::load_or_create_signing_key(state_dir);
  } catch (const cairn_echo::KeyStoreError&) {
    return true;
  }
  return false;
}

void test_create_and_reuse(const std::string& root) {
  const std::string state_dir = root + "/state";  // missing: created with mode 0700
  const cairn_echo::SecretKey first = cairn_echo::load_or_create_signing_key(state_dir);
  const std::string key_path = state_dir + "/signing.key";
  struct stat info {};
  CHECK(::stat(key_path.c_str(), &info) == 0);
  CHECK((info.st_mode & 07777) == 0600);
  CHECK(info.st_size == 32);
  CHECK(::stat(state_dir.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0700);
  CHECK(read_file(key_path) == std::string(first.begin(), first.end()));
  CHECK(cairn_echo::is_valid_secret_key(first));

  const cairn_echo::SecretKey second = cairn_echo::load_or_create_signing_key(state_dir);
  CHECK(first == second);

  const std::string other_dir = root + "/other";
  CHECK(cairn_echo::load_or_create_signing_key(other_dir) != first);
}

void test_refuses_bad_key_files(const std::string& root) {
  const std::string state_dir = root + "/bad";
  CHECK(::mkdir(state_dir.c_str(), 0700) == 0);
  const std::string key_path = state_dir + "/signing.key";
  write_file(key_path, std::string(31, '\x01'), 0600);
  CHECK(refuses(state_dir));
  write_file(key_path, std::string(33, '\x01'), 0600);
  CHECK(refuses(state_dir));
  write_file(key_path, std::string(32, '\0'), 0600);  // zero is not a valid key
  CHECK(refuses(state_dir));
  write_file(key_path, std::string(32, '\xff'), 0600);  // above the group order
  CHECK(refuses(state_dir));
  write_file(key_path, std::string(32, '\x01'), 0640);  // group-readable
  CHECK(refuses(state_dir));
  write_file(key_path, std::string(32, '\x01'), 0600);
  CHECK(!refuses(state_dir));

  const std::string not_a_dir = root + "/file";
  write_file(not_a_dir, "x", 0600);
  CHECK(refuses(not_a_dir));
}

void test_public_key_file(const std::string& root) {
  cairn_echo::SecretKey key{};
  key[31] = 1;  // the generator G
  const cairn_echo::Signer signer(key);
  const std::string path = root + "/echo.pub";
  cairn_echo::write_public_key_file(path, signer.public_key());
  CHECK(read_file(path) ==
        "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\n");
  bool threw = false;
  try {
    cairn_echo::write_public_key_file(root + "/missing/echo.pub", signer.public_key());
  } catch (const cairn_echo::KeyStoreError&) {
    threw = true;
  }
  CHECK(threw);
}

}  // namespace

int main() {
  const std::string root = make_temp_dir();
  test_create_and_reuse(root);
  test_refuses_bad_key_files(root);
  test_public_key_file(root);
  const std::string cleanup = "rm -rf '" + root + "'";
  (void)std::system(cleanup.c_str());
  TEST_MAIN_RETURN();
}
