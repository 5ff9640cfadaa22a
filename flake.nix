{
  description = "aimachine: a Proxmox VE VM with a passed-through NVIDIA GPU serving vLLM and Ollama";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forEachSystem = f: nixpkgs.lib.genAttrs systems (system: f (import nixpkgs {
        inherit system;
        # Terraform is BSL-1.1 (unfree): allowed by name, nothing else unfree slips in.
        config.allowUnfreePredicate = pkg: builtins.elem (nixpkgs.lib.getName pkg) [ "terraform" ];
      }));
    in
    {
      devShells = forEachSystem (pkgs:
        let
          python = pkgs.python312.withPackages (ps: with ps; [
            pyinfra proxmoxer pyyaml click requests pytest pytest-bdd python-hcl2 pip
          ]);
        in
        {
          default = pkgs.mkShell {
            # go: `make tools` builds the pinned bpg/proxmox provider the tests use (aimachine/tools/pins.env)
            packages = [ pkgs.terraform python pkgs.gnumake pkgs.openssh pkgs.zstd pkgs.ruff pkgs.go ];
            # The same install the README uses (make setup: venv + editable, pinned by
            # constraints.txt), so the Nix path and the plain path test the same code.
            shellHook = ''
              export PYTHON=${python}/bin/python3
              make --no-print-directory setup PYTHON=$PYTHON
              export PATH="$PWD/.venv/bin:$PATH"
            '';
          };
        });
    };
}
