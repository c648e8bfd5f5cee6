using Aurous.Accounts;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Aurous.Api.Balance;

/// <summary>GET /v1/balance: the calling team's credits, what requests in flight hold, and what is available.</summary>
public static class BalanceApi
{
    public static RouteGroupBuilder MapBalanceApi(this RouteGroupBuilder v1)
    {
        v1.MapGet("/balance", Get).WithTags("Billing").WithName("GetBalance")
            .WithSummary("Returns the team's credit balance, held credits and available credits.");
        return v1;
    }

    private static async Task<Ok<BalanceResponse>> Get(HttpContext context, Ledger ledger)
    {
        var balance = await ledger.GetBalanceAsync(RequestContext.Of(context).TeamId, context.RequestAborted);
        return TypedResults.Ok(new BalanceResponse(
            Credits.Normalize(balance.Credits), Credits.Normalize(balance.HeldCredits), Credits.Normalize(balance.AvailableCredits), "credit"));
    }
}

public sealed record BalanceResponse(decimal Credits, decimal HeldCredits, decimal AvailableCredits, string Currency);
