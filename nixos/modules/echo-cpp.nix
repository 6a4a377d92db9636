# echo-cpp (services/echo-cpp, C++/CMake) as a systemd service registered with the Cairn agent.
import ./echo-service.nix {
  name = "echo-cpp";
  defaultPort = 9001;
}
