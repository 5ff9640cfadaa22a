"""`aimachine bench NAME`: argument handling and printing; the work lives in aimachine/bench/."""

from __future__ import annotations

import json

import click

from aimachine.bench.report import table
from aimachine.bench.runner import Plan
from aimachine.bench.suite import ENGINES, Options, ViaGateway, run_bench
from aimachine.catalog import gateway as gw
from aimachine.catalog.schema import Catalog, load_catalog
from aimachine.cli.options import catalog_option
from aimachine.errors import PhaseError


def _levels(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        levels = tuple(sorted({int(v) for v in value.split(",") if v.strip()}))
    except ValueError:
        levels = ()
    if not levels or levels[0] < 1:
        raise click.BadParameter(f"found {value!r}; allowed: whole numbers >= 1 separated by commas, "
                                 "e.g. 1,2,4,8")
    return levels


def via_gateway(catalog: Catalog) -> ViaGateway:
    """The catalog's gateway: its URL as a client on the network reaches it, and the key from the admin's
    key file (read here, sent as a bearer token, never printed)."""
    from aimachine.reach.address import known_address

    gateway = catalog.gateway
    if gateway.vm is None:
        raise PhaseError("bench", "--via-gateway: the catalog has no gateway (gateway.vm is not set)",
                         "add a gateway section to the catalog and deploy it, or bench without --via-gateway")
    host = catalog.vm(gateway.vm)
    try:
        key = gw.read_master_key(gateway.master_key_file or "")
    except gw.KeyFileError as err:
        raise PhaseError("bench", f"--via-gateway: gateway.master_key_file: {err}") from None
    url = gw.url(gateway, host, known_address(host))
    if "ADDRESS" in url:
        raise PhaseError("bench", f"--via-gateway: no address known for {host.name}, which runs the gateway",
                         f"run `aimachine provision {host.name}` (or give it a static ipv4 in the catalog)")
    return ViaGateway(url.removesuffix("/v1"), key)


@click.command("bench")
@click.argument("name")
@click.option("--engine", type=click.Choice([*ENGINES, "both"]), default="both", show_default=True)
@click.option("--model", help="Model to bench (one engine only); default: the catalog's.")
@click.option("--vllm-url", help="Use this vLLM URL instead of an SSH tunnel to the VM.")
@click.option("--ollama-url", help="Use this Ollama URL instead of an SSH tunnel to the VM.")
@click.option("--via-gateway", "via_gateway_", is_flag=True,
              help="Measure VM NAME's models through the catalog's gateway (its URL, the key from "
                   "gateway.master_key_file), as a client on the network sees them.")
@click.option("--weights-gb", type=click.FloatRange(min=0.01),
              help="vLLM weight size in GB for the roofline (default: read over SSH).")
@click.option("--concurrency", "levels", default="1,2,4,8", show_default=True, callback=_levels,
              help="Concurrency levels, comma separated.")
@click.option("--runs", type=click.IntRange(1, 100), default=3, show_default=True,
              help="Measured rounds per level (medians are reported).")
@click.option("--warmup", type=click.IntRange(0, 10), default=1, show_default=True,
              help="Unmeasured requests per prompt before measuring.")
@click.option("--max-tokens", type=click.IntRange(2, 8192), default=128, show_default=True)
@click.option("--seed", type=int, default=1234, show_default=True)
@click.option("--wait", "wait_s", type=click.FloatRange(min=0), default=300, show_default=True,
              help="Seconds to wait while an engine answers 503 (loading).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Write a PNG of tokens/s vs concurrency.")
@catalog_option
def bench(name: str, engine: str, model: str | None, vllm_url: str | None, ollama_url: str | None,
          via_gateway_: bool, weights_gb: float | None, levels: tuple[int, ...], runs: int, warmup: int,
          max_tokens: int, seed: int, wait_s: float, as_json: bool, plot: str | None,
          catalog_path: str) -> None:
    """Measure TTFT, decode and prompt tokens/s of vLLM and Ollama on VM NAME, against the roofline."""
    catalog = load_catalog(catalog_path)
    vm = catalog.vm(name)
    engines = ENGINES if engine == "both" else (engine,)
    if model and len(engines) > 1:
        raise PhaseError("bench", "--model names one engine's model: add --engine vllm or --engine ollama")
    if via_gateway_ and (vllm_url or ollama_url):
        raise PhaseError("bench", "--via-gateway goes through the gateway's URL: leave out --vllm-url and "
                                  "--ollama-url")
    opts = Options(engines=engines, model=model, urls={"vllm": vllm_url, "ollama": ollama_url},
                   gateway=via_gateway(catalog) if via_gateway_ else None,
                   weights_gb=weights_gb, wait_s=wait_s,
                   plan=Plan(max_tokens=max_tokens, runs=runs, warmup=warmup, seed=seed, levels=levels))
    report = run_bench(vm, opts, lambda line: click.echo(line, err=True))
    if plot:
        from aimachine.bench.plot import save_png

        save_png(report, plot)
        click.echo(f"bench: plot written to {plot}", err=True)
    click.echo(json.dumps(report, indent=2) if as_json else table(report))
