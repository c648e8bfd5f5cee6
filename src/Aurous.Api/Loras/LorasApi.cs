using Aurous.Api.Generation;
using Aurous.Models;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Aurous.Api.Loras;

/// <summary>
/// GET /v1/loras and /v1/loras/{id}: the styles (LoRA adapters) a generation can ask for by <c>lora_id</c>, from the
/// LoRA catalog; and GET /v1/loras/{id}/preview.png, the style's preview image, served without an API key.
/// </summary>
public static class LorasApi
{
    public static RouteGroupBuilder MapLorasApi(this RouteGroupBuilder v1)
    {
        var group = v1.MapGroup("/loras").WithTags("LoRAs");
        group.MapGet("/", List).WithName("ListLoras").WithSummary("Lists the LoRA styles, for lora_id on POST /v1/images and /v1/videos.")
            .ProducesErrors(401, 429);
        group.MapGet("/{id}", Get).WithName("GetLora").WithSummary("Returns one LoRA style.").ProducesErrors(401, 404, 429);
        return group;
    }

    /// <summary>The preview images, outside the authenticated group: they are shown in pages and docs as plain images.</summary>
    public static RouteGroupBuilder MapLoraPreviews(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/loras").WithTags("LoRAs");
        group.MapMethods("/{id}/preview.png", [HttpMethods.Get, HttpMethods.Head], Preview).WithName("GetLoraPreview")
            .WithSummary("The style's preview image (no API key needed).")
            .Produces(StatusCodes.Status200OK, contentType: "image/png").ProducesErrors(404);
        return group;
    }

    private static Ok<LoraList> List(LoraCatalog loras, OutputLinks links, HttpContext context) =>
        TypedResults.Ok(new LoraList("list", loras.Loras.Select(l => LoraRow.From(l, links.BaseFor(context))).ToList()));

    private static IResult Get(string id, LoraCatalog loras, OutputLinks links, HttpContext context) =>
        loras.TryGet(id, out var lora) ? TypedResults.Ok(LoraRow.From(lora, links.BaseFor(context))) : NotFound(context, id);

    private static IResult Preview(string id, LoraCatalog loras, HttpContext context)
    {
        if (!loras.TryGet(id, out var lora) || !File.Exists(lora.PreviewPath))
        {
            return NotFound(context, id);
        }
        context.Response.Headers.CacheControl = "public, max-age=3600";
        return Results.File(lora.PreviewPath, "image/png", enableRangeProcessing: true);
    }

    private static IResult NotFound(HttpContext context, string id) =>
        ApiError.NotFound("lora_not_found", $"There is no LoRA '{id}'. GET /v1/loras lists them.").ToResult(context);
}

public sealed record LoraList(string Object, IReadOnlyList<LoraRow> Data);

public sealed record LoraRow(
    string Id, string Object, string Name, string Description, IReadOnlyList<string> TriggerWords, string BaseModel, long Created, string PreviewUrl)
{
    public static LoraRow From(CatalogLora lora, Uri publicBaseUrl)
    {
        var m = lora.Manifest;
        return new LoraRow(m.Id, "lora", m.Name, m.Description, m.TriggerWords, m.BaseModel, m.Created,
            new Uri(publicBaseUrl, $"/v1/loras/{Uri.EscapeDataString(m.Id)}/preview.png").AbsoluteUri);
    }
}
