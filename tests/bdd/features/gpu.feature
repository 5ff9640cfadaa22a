@acceptance
Feature: The GPU is passed through, driven by the open driver, and never taken from another VM

  Background:
    Given the catalog entry "vm-llm-aimachine"

  Scenario: 2 GPU passthrough verification
    Given a deployed VM "vm-llm-aimachine"
    Then the VM holds the GPU through the PCI mapping "rtx5060ti"
    And the VM passes the GPU "0000:01:00" with all its functions as a PCIe device
    When I verify "vm-llm-aimachine"
    Then the checks "lspci, gpu-name, gpu-memory, driver-version" pass

  Scenario: 3 Driver installation with the open distro version
    Given the driver list "ubuntu-drivers-devices.rtx5060ti.noble.txt" from the VM
    When the driver is chosen
    Then the chosen package is "nvidia-driver-580-open"
    And the driver is installed with "ubuntu-drivers install nvidia:580-open"
    And no reboot is needed when nouveau does not hold the card
    And nvidia-smi works on the VM

  Scenario: 7 GPU passthrough failure detection with rollback
    Given a Proxmox host "android-19" where VM 120 "gaming" is running with the GPU
    When I deploy "vm-llm-aimachine"
    Then the deploy stops in phase "preflight" with exit code 3
    And the message names the VM 120 "gaming" holding the GPU
    And nothing on the Proxmox host was changed
    When VM 120 "gaming" is stopped while the start of the new VM still fails on the busy device
    And I deploy "vm-llm-aimachine"
    Then the deploy stops in phase "provision" with exit code 4
    And the message names the busy device and the VM holding it
    And VM 140 does not exist
    And VM 120 "gaming" still exists
