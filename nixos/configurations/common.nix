# Shared by every Cairn VM: the agent, both demo services, TPM-sealed state, the CVM profile.
{ lib, ... }:
{
  imports = [
    ../modules/cairn-agent.nix
    ../modules/echo-cpp.nix
    ../modules/echo-rust.nix
    ../modules/cvm.nix
    ../modules/luks-tpm.nix
  ];

  cairn.cvm.enable = true;
  cairn.luksTpm.enable = true;

  services.cairn-agent = {
    enable = true;
    listen.host = "0.0.0.0";
    openFirewall = true;
  };
  services.echo-cpp.enable = true;
  services.echo-rust.enable = true;

  networking.useDHCP = lib.mkDefault true;
  system.stateVersion = "25.11";
}
