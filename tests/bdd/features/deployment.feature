@acceptance
Feature: One command from a catalog entry to a GPU VM serving LLMs
  As a homelab admin
  I want one command to turn the catalog entry into a working VM
  So that local LLM inference works the first time and re-runs change nothing

  Background:
    Given the catalog entry "vm-llm-aimachine"
    And a Proxmox host "android-19" with the RTX 5060 Ti free for passthrough

  Scenario: 1 Initial deployment happy path
    When I deploy "vm-llm-aimachine"
    Then every phase is announced and closed with its duration
    And VM 140 named "vm-llm-aimachine" exists with 32 cores, 51200 MB and a 500 GB disk
    And the VM holds the GPU through the PCI mapping "rtx5060ti"
    And the VM boots from the Ubuntu cloud image with cloud-init for user "ubuntu"
    And the summary names the VM's address and the next commands
    And the verify phase passes on the GPU

  Scenario: 6 Idempotent re-deployment
    Given "vm-llm-aimachine" is already deployed
    When I deploy "vm-llm-aimachine" again
    Then Terraform reports no changes
    And the configuration reports zero changed operations
    And the services were not restarted
