@acceptance
Feature: The catalog is the one source of truth

  Scenario: 9 Catalog integration
    Given the catalog entry "vm-llm-aimachine"
    Then the entry has the id 140, the name, 32 cores, 51200 MB RAM, a 500 GB disk, the GPU id and the image
    And the catalog is valid YAML and passes validation
    And Terraform reads the same catalog file
    When I deploy "vm-llm-aimachine" up to provisioning
    Then the VM on the Proxmox host has the values of the catalog entry
