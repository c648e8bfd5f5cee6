using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace Aurous.Dashboard.Operators;

/// <summary>
/// A small operator sign-in in front of the operators' pages (the Hangfire dashboard): one shared password from
/// configuration, checked in constant time, and a cookie for the signed-in operator. It stands until the team dashboard
/// has accounts of its own. Sign-in attempts are rate limited per client address.
/// </summary>
public static class OperatorSignIn
{
    public const string Policy = "operator";
    public const string SignInPath = "/operator/sign-in";
    public const string SignOutPath = "/operator/sign-out";
    private const string Role = "operator";
    private const string RateLimit = "operator-sign-in";

    public static WebApplicationBuilder AddOperatorSignIn(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<OperatorOptions>().BindConfiguration(OperatorOptions.Section)
            .Validate(o => o.Password.Length >= OperatorOptions.MinimumPasswordLength,
                $"Operator:Password must be set (at least {OperatorOptions.MinimumPasswordLength} characters); the dashboard does not start without it.")
            .ValidateOnStart();
        builder.Services.AddAuthentication(CookieAuthenticationDefaults.AuthenticationScheme)
            .AddCookie(o =>
            {
                o.LoginPath = SignInPath;
                o.Cookie.Name = "aurous_operator";
                o.Cookie.HttpOnly = true;
                o.Cookie.SameSite = SameSiteMode.Strict;
                o.ExpireTimeSpan = TimeSpan.FromHours(8);
                o.SlidingExpiration = true;
            });
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(Policy, p => p.RequireAuthenticatedUser().RequireRole(Role));
        builder.Services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.AddPolicy(RateLimit, context => RateLimitPartition.GetFixedWindowLimiter(
                context.Connection.RemoteIpAddress?.ToString() ?? "unknown",
                _ => new FixedWindowRateLimiterOptions { PermitLimit = 10, Window = TimeSpan.FromMinutes(1), QueueLimit = 0 }));
        });
        return builder;
    }

    public static WebApplication MapOperatorSignIn(this WebApplication app)
    {
        app.MapGet(SignInPath, (HttpContext context, IAntiforgery antiforgery, string? returnUrl) =>
                Page(context, antiforgery, returnUrl, error: null, StatusCodes.Status200OK))
            .ExcludeFromDescription();

        app.MapPost(SignInPath, async (HttpContext context, IAntiforgery antiforgery, IOptions<OperatorOptions> options) =>
            {
                if (!await antiforgery.IsRequestValidAsync(context))
                {
                    return Results.BadRequest();
                }
                var form = await context.Request.ReadFormAsync(context.RequestAborted);
                var returnUrl = form["returnUrl"].ToString();
                if (!PasswordMatches(form["password"].ToString(), options.Value.Password))
                {
                    return Page(context, antiforgery, returnUrl, "Wrong password.", StatusCodes.Status401Unauthorized);
                }
                var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, "operator"), new Claim(ClaimTypes.Role, Role)],
                    CookieAuthenticationDefaults.AuthenticationScheme);
                await context.SignInAsync(CookieAuthenticationDefaults.AuthenticationScheme, new ClaimsPrincipal(identity));
                return Results.LocalRedirect(IsLocal(returnUrl) ? returnUrl : "/hangfire");
            })
            .DisableAntiforgery() // validated above, before the form is read
            .RequireRateLimiting(RateLimit)
            .ExcludeFromDescription();

        app.MapPost(SignOutPath, async (HttpContext context) =>
            {
                await context.SignOutAsync(CookieAuthenticationDefaults.AuthenticationScheme);
                return Results.LocalRedirect(SignInPath);
            })
            .RequireAuthorization(Policy)
            .ExcludeFromDescription();
        return app;
    }

    private static bool PasswordMatches(string given, string expected) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), SHA256.HashData(Encoding.UTF8.GetBytes(expected)));

    private static bool IsLocal(string? url) =>
        !string.IsNullOrEmpty(url) && url.StartsWith('/') && !url.StartsWith("//", StringComparison.Ordinal) && !url.StartsWith("/\\", StringComparison.Ordinal);

    private static IResult Page(HttpContext context, IAntiforgery antiforgery, string? returnUrl, string? error, int status)
    {
        var tokens = antiforgery.GetAndStoreTokens(context);
        var html = $"""
            <!DOCTYPE html>
            <html lang="en">
            <head><meta charset="utf-8" /><title>Operator sign-in · Aurous</title></head>
            <body>
            <h1>Operator sign-in</h1>
            {(error is null ? "" : $"<p role=\"alert\">{WebUtility.HtmlEncode(error)}</p>")}
            <form method="post" action="{SignInPath}">
              <input type="hidden" name="{WebUtility.HtmlEncode(tokens.FormFieldName)}" value="{WebUtility.HtmlEncode(tokens.RequestToken)}" />
              <input type="hidden" name="returnUrl" value="{WebUtility.HtmlEncode(IsLocal(returnUrl) ? returnUrl : "/hangfire")}" />
              <label>Password <input type="password" name="password" autocomplete="current-password" required autofocus /></label>
              <button type="submit">Sign in</button>
            </form>
            </body>
            </html>
            """;
        return Results.Content(html, "text/html; charset=utf-8", Encoding.UTF8, status);
    }
}
