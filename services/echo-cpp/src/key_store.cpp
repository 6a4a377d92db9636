#include "key_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "protocol.hpp"

namespace cairn_echo {

namespace {

std::string describe(const std::string& what, const std::string& path, int error) {
  return what + " " + path + ": " + std::strerror(error);
}

// Closes a file descriptor on scope exit.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

void write_all(int fd, const std::uint8_t* data, std::size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t written = ::write(fd, data, size);
    if (written < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw KeyStoreError(describe("cannot write", path, errno));
    }
    data += written;
    size -= static_cast<std::size_t>(written);
  }
}

void ensure_state_dir(const std::string& state_dir) {
  if (::mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw KeyStoreError(describe("cannot create state directory", state_dir, errno));
  }
  struct stat info {};
  if (::stat(state_dir.c_str(), &info) != 0) {
    throw KeyStoreError(describe("cannot access state directory", state_dir, errno));
  }
  if (!S_ISDIR(info.st_mode)) {
    throw KeyStoreError("state directory " + state_dir + " is not a directory");
  }
}

SecretKey read_key(int fd, const std::string& path) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    throw KeyStoreError(describe("cannot stat", path, errno));
  }
  if (!S_ISREG(info.st_mode)) {
    throw KeyStoreError("signing key " + path + " is not a regular file");
  }
  if ((info.st_mode & 077) != 0) {
    throw KeyStoreError("signing key " + path +
                        " is accessible by group or others; run: chmod 600 " + path);
  }
  // Read one byte more than a key so that an oversized file is detected.
  std::array<std::uint8_t, 33> buffer{};
  std::size_t filled = 0;
  while (filled < buffer.size()) {
    const ssize_t got = ::read(fd, buffer.data() + filled, buffer.size() - filled);
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      throw KeyStoreError(describe("cannot read", path, errno));
    }
    if (got == 0) {
      break;
    }
    filled += static_cast<std::size_t>(got);
  }
  SecretKey key{};
  if (filled != key.size()) {
    throw KeyStoreError("signing key " + path + " must hold exactly 32 bytes, not " +
                        (filled > key.size() ? "more" : std::to_string(filled)));
  }
  std::copy(buffer.begin(), buffer.begin() + key.size(), key.begin());
  OPENSSL_cleanse(buffer.data(), buffer.size());
  if (!is_valid_secret_key(key)) {
    throw KeyStoreError("signing key " + path + " is not a valid secp256k1 private key");
  }
  return key;
}

SecretKey generate_key() {
  SecretKey key{};
  do {
    random_bytes(key.data(), key.size());
  } while (!is_valid_secret_key(key));
  return key;
}

}  // namespace

SecretKey load_or_create_signing_key(const std::string& state_dir) {
  ensure_state_dir(state_dir);
  const std::string path = state_dir + "/" + kSigningKeyFileName;
  for (int attempt = 0; attempt < 2; ++attempt) {
    FileDescriptor existing(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (existing.get() >= 0) {
      return read_key(existing.get(), path);
    }
    if (errno != ENOENT) {
      throw KeyStoreError(describe("cannot open", path, errno));
    }
    FileDescriptor created(
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (created.get() < 0) {
      if (errno == EEXIST) {
        continue;  // another process created it first: read theirs
      }
      throw KeyStoreError(describe("cannot create", path, errno));
    }
    const SecretKey key = generate_key();
    if (::fchmod(created.get(), 0600) != 0) {
      throw KeyStoreError(describe("cannot chmod", path, errno));
    }
    write_all(created.get(), key.data(), key.size(), path);
    if (::fsync(created.get()) != 0) {
      throw KeyStoreError(describe("cannot sync", path, errno));
    }
    return key;
  }
  throw KeyStoreError("signing key " + path + " appeared and vanished while starting");
}

void write_public_key_file(const std::string& path, const CompressedPublicKey& public_key) {
  const std::string text = to_hex(public_key.data(), public_key.size()) + "\n";
  const std::string temporary = path + ".tmp";
  {
    FileDescriptor fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) {
      throw KeyStoreError(describe("cannot create", temporary, errno));
    }
    if (::fchmod(fd.get(), 0644) != 0) {
      throw KeyStoreError(describe("cannot chmod", temporary, errno));
    }
    write_all(fd.get(), reinterpret_cast<const std::uint8_t*>(text.data()), text.size(),
              temporary);
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(temporary.c_str());
    throw KeyStoreError(describe("cannot write", path, error));
  }
}

}  // namespace cairn_echo
