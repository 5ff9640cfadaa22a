@acceptance
Feature: vLLM and Ollama run as sandboxed systemd services

  Background:
    Given the catalog entry "vm-llm-aimachine"

  Scenario: 4 vLLM service deployment
    Given a configured test host for "vm-llm-aimachine"
    Then vLLM is installed in its own virtual environment at the catalog's version
    And the unit "vllm.service" exists, is enabled and active, and does not run as root
    And vLLM answers "/health" with 200 on "127.0.0.1:8000" only
    And vLLM uses the GPU

  Scenario: 5 Ollama installation and verification
    Given a configured test host for "vm-llm-aimachine"
    Then "ollama" is on the PATH and "ollama --version" prints the catalog's version
    And the unit "ollama.service" exists, is enabled and active, and does not run as root
    And "ollama list" answers
    And Ollama uses the GPU
