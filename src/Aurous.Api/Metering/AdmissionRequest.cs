using Aurous.Models;

namespace Aurous.Api.Metering;

/// <summary>What an endpoint asks the pipeline to admit: the model, its token estimate and the hold to place.</summary>
/// <param name="Endpoint">The route as billed, e.g. "embeddings".</param>
/// <param name="EstimatedTokens">Counted against the TPM bucket up front, settled to the real count afterwards.</param>
/// <param name="HoldAmount">An upper bound of the charge; the team's available credits must cover it.</param>
/// <param name="Body">The parsed request body, for the idempotency fingerprint; null where idempotency does not apply (streams).</param>
/// <param name="BecomesJob">The request hands its hold to a job (image and video generation): it needs a hold of its own, never a lease's.</param>
public sealed record AdmissionRequest(string Endpoint, CatalogModel Model, long EstimatedTokens, decimal HoldAmount, JsonElement? Body, string? EndUser = null, bool BecomesJob = false);
