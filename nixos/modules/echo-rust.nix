# echo-rust (services/echo-rust, Rust std + FFI) as a systemd service registered with the Cairn agent.
import ./echo-service.nix {
  name = "echo-rust";
  defaultPort = 9002;
}
