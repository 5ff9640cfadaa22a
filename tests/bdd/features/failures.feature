@acceptance
Feature: Failures are reported clearly and leave the VM usable

  Background:
    Given the catalog entry "vm-llm-aimachine"

  Scenario: 8 Driver installation failure handling
    Given a fresh Ubuntu 24.04 VM with the RTX 5060 Ti where "ubuntu-drivers install" fails
    When the configuration runs
    Then it stops at the driver step
    And the failing command's output is shown
    And no later step ran
    When the driver installation works again
    And the configuration runs
    Then the driver step succeeds
